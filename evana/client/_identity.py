"""The person operations the SDK sends: ``$identify`` and ``$create_alias``, as PostHog's.

Both are ordinary events on the wire, so they take the same queue, batches, retries and
guarantees as ``track()``; the server links the ids and keeps the properties, and counts
neither as activity. These functions only shape the event; they never raise (a value that
cannot be sent is reported by ``track()``'s validation like any other).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ALIAS", "IDENTIFY", "alias_properties", "identify_properties"]

IDENTIFY = "$identify"
ALIAS = "$create_alias"


def _id(value: Any) -> Any:
    # An integer id is sent as its text, as track() sends an integer user_id.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def identify_properties(
    anonymous_id: str | int | None,
    set: Mapping[str, Any] | None,
    set_once: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The properties of an ``$identify`` event: each part only when given.

    >>> identify_properties("anon_1", {"plan": "pro"}, None)
    {'$anon_distinct_id': 'anon_1', '$set': {'plan': 'pro'}}
    >>> identify_properties(None, None, {"first_plan": "free"})
    {'$set_once': {'first_plan': 'free'}}
    """
    properties: dict[str, Any] = {}
    if anonymous_id is not None:
        properties["$anon_distinct_id"] = _id(anonymous_id)
    if set is not None:
        properties["$set"] = set
    if set_once is not None:
        properties["$set_once"] = set_once
    return properties


def alias_properties(previous_id: str | int) -> dict[str, Any]:
    """The properties of a ``$create_alias`` event sent for the new id.

    >>> alias_properties("anon_1")
    {'alias': 'anon_1'}
    """
    return {"alias": _id(previous_id)}
