"""Segment's HTTP tracking API (``/v1/batch``, ``/v1/track``, ``/v1/page``, …) as evana events.

RudderStack's SDKs speak it too. Mapping:

- ``track`` → its ``event``; ``page`` → ``$pageview`` and ``screen`` → ``$screen``, with
  ``name`` and ``category`` among the properties; ``identify`` → ``$identify`` (traits under
  ``$set``, the ``anonymousId`` it identifies under ``$anon_distinct_id``); ``alias`` →
  ``$create_alias`` (``previousId`` under ``alias``); ``group`` → ``$groupidentify``
  (``groupId`` under ``$group_key``, traits under ``$group_set``). The last three are person
  operations: stored, counted in no report.
- ``userId``, else ``anonymousId`` → ``user_id``; ``messageId`` → ``event_id`` (a non-UUID as
  its UUIDv5); ``context`` (the batch's, overlaid by the message's) → ``properties["$context"]``.
- Time: ``timestamp`` (or ``originalTimestamp``) corrected by ``sentAt`` (the message's, else
  the batch's), which is Segment's ``receivedAt - (sentAt - timestamp)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ._decode import bad_body
from ._message import Decoded, Dropped, Message, event_id, instant, text_id

__all__ = ["MIN_BODY_LIMIT", "TYPES", "read"]

#: Segment's tracking API takes batches of 500 KB; so does evana, whatever its own limit.
MIN_BODY_LIMIT = 500 * 1024

#: Message types and the evana event each becomes (track: the message's own ``event``).
TYPES: dict[str, str | None] = {
    "track": None,
    "page": "$pageview",
    "screen": "$screen",
    "identify": "$identify",
    "alias": "$create_alias",
    "group": "$groupidentify",
}


def read(payload: Any, *, kind: str | None) -> Decoded:
    """Turn a parsed body into messages. ``kind`` is the single-type route's type (None for
    ``/v1/batch``, where each message says its own).

    >>> out = read({"userId": "u1", "event": "Signed Up", "writeKey": "k"}, kind="track")
    >>> out.key, out.messages[0].event["event"], out.messages[0].event["user_id"]
    ('k', 'Signed Up', 'u1')
    """
    if not isinstance(payload, Mapping):
        raise bad_body("the body is not a Segment message or batch (a JSON object)")
    if kind is None:
        items = payload.get("batch")
        if not isinstance(items, list):
            raise bad_body('the body has no "batch" list of messages')
    else:
        items = [payload]
    batch_context = payload.get("context") if kind is None else None
    sent_at = instant(payload.get("sentAt"))
    out = Decoded(key=_body_key(payload, items))
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            out.dropped.append(Dropped(index, "not a JSON object"))
            continue
        message_kind = kind or str(item.get("type", "")).lower()
        if message_kind not in TYPES:
            known = ", ".join(TYPES)
            out.dropped.append(Dropped(index, f"type {item.get('type')!r} is not one of {known}"))
            continue
        out.messages.append(_message(index, item, message_kind, batch_context, sent_at))
    return out


def _body_key(payload: Mapping[str, Any], items: list[Any]) -> str | None:
    for holder in (payload, *items):
        if isinstance(holder, Mapping) and isinstance(key := holder.get("writeKey"), str) and key:
            return key
    return None


def _message(
    index: int,
    item: Mapping[str, Any],
    kind: str,
    batch_context: Any,
    batch_sent_at: dt.datetime | None,
) -> Message:
    user = text_id(item.get("userId")) or text_id(item.get("anonymousId"))
    properties = _properties(item, kind)
    context = _context(batch_context, item.get("context"))
    if context and isinstance(properties, dict):
        properties["$context"] = context
    event: dict[str, Any] = {
        "event_id": event_id(item.get("messageId")),
        "event": TYPES[kind] or item.get("event"),
        "user_id": user,
        "properties": properties or None,
    }
    stamp = item.get("timestamp", item.get("originalTimestamp"))
    clock = None
    if stamp is not None:
        event["timestamp"] = stamp
        clock = instant(item.get("sentAt")) or batch_sent_at
    return Message(index, event, clock)


def _properties(item: Mapping[str, Any], kind: str) -> Any:
    raw = item.get("properties")
    if raw is not None and not isinstance(raw, Mapping):
        return raw  # validation says what is wrong with it
    properties = dict(raw) if raw is not None else {}
    if kind in ("page", "screen"):
        for name in ("name", "category"):
            if item.get(name) is not None:
                properties.setdefault(name, item[name])
    elif kind == "identify":
        if isinstance(item.get("traits"), Mapping):
            properties["$set"] = item["traits"]
        anonymous = text_id(item.get("anonymousId"))
        if text_id(item.get("userId")) and anonymous:
            properties["$anon_distinct_id"] = anonymous
    elif kind == "alias":
        properties["alias"] = text_id(item.get("previousId"))
    elif kind == "group":
        properties["$group_type"] = "group"
        properties["$group_key"] = text_id(item.get("groupId"))
        if isinstance(item.get("traits"), Mapping):
            properties["$group_set"] = item["traits"]
    return properties


def _context(batch: Any, own: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in (batch, own):
        if isinstance(part, Mapping):
            merged.update(part)
    return merged
