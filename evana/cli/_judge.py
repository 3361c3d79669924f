"""One JSON line in, an event ready to send (and its id) or the reason it is not one.

The verdict is always :class:`evana.schema.Event`'s, plus the contract's rule against timestamps
more than 24 hours ahead, so a line the CLI sends is a line the server accepts, and a line it
rejects says what the server would say. It is reached cheaply for the common line:
``pydantic_core.from_json`` and the contract's predicates decide plain events (names, a canonical
UUID, an ISO timestamp with its offset, a short line whose properties cannot break the size,
depth, NUL or finite-number rules); anything else is parsed as the server parses it
(:func:`evana._contract.parse_json`) and judged by ``Event``. The parsed object is what gets
sent, so nothing is serialized twice. ``tests/test_event_contract.py`` proves the CLI, the SDK
and the server agree.

A line without an ``event_id`` gets the contract's content-derived id
(:func:`evana._contract.derive_event_id`): sending the same line again, from any file, is
recognised as the same event. Timestamps read from a file are facts: the CLI sends no
``sent_at``, so the server never moves them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pydantic_core
from pydantic import ValidationError

from evana._contract import (
    EVENT_FIELDS,
    MAX_FUTURE,
    MAX_PROPERTIES_DEPTH,
    MIN_TIMESTAMP,
    derive_event_id,
    format_errors,
    future_error,
    name_ok,
    parse_json,
)
from evana.schema import Event

from ._jsonlines import MAX_LINE_BYTES, TooLong

__all__ = ["LineError", "Payload", "horizon", "judge"]

#: What goes into a batch: the parsed object (fast path) or the validated ``Event``.
Payload = dict[str, Any] | Event

_FIELDS = frozenset(EVENT_FIELDS)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")
#: Lines up to this size are decided on the fast path. Serializing parsed JSON grows it at most
#: 4.5x (``1e15`` becomes ``1000000000000000.0``), so their properties stay under 32 KiB.
_FAST_BYTES = 7000
_from_json = pydantic_core.from_json
_fromisoformat = dt.datetime.fromisoformat
_validate = Event.model_validate


class LineError(Exception):
    """Why a line is not an event (one readable sentence)."""


def horizon() -> dt.datetime:
    """The latest timestamp the server accepts now (now + 24 hours).

    >>> horizon() > dt.datetime.now(dt.UTC)
    True
    """
    return dt.datetime.now(dt.UTC) + MAX_FUTURE


def _overflows(value: dict[str, Any]) -> bool:
    """Whether a number overflowed to infinity (``1e400``), which Event refuses."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is float:
            if not math.isfinite(item):
                return True
        elif type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


def _fast(line: bytes, latest: dt.datetime) -> tuple[dict[str, Any], str] | None:
    """The object and id of a plain valid event line; None when only ``Event`` can tell."""
    if len(line) > _FAST_BYTES or b"\\u0000" in line or b"\x00" in line:
        return None
    try:
        obj = _from_json(line, allow_inf_nan=False)  # NaN, Infinity: Event's message
    except ValueError:
        return None
    if type(obj) is not dict or not obj.keys() <= _FIELDS:
        return None
    if not (name_ok(obj.get("event")) and name_ok(obj.get("user_id"))):
        return None
    when = obj.get("timestamp")
    if when is not None:
        if type(when) is not str or not _STAMP.fullmatch(when):
            return None
        try:
            when = _fromisoformat(when)
        except ValueError:
            return None
        if not MIN_TIMESTAMP <= when <= latest:
            return None
    properties = obj.get("properties")
    if properties is not None and (
        type(properties) is not dict
        or line.count(b"{") + line.count(b"[") > MAX_PROPERTIES_DEPTH  # counts err high
        or _overflows(properties)
    ):
        return None
    event_id = obj.get("event_id")
    if event_id is None:
        event_id = obj["event_id"] = str(
            derive_event_id(obj["event"], obj["user_id"], when, properties)
        )
    elif type(event_id) is not str or not _UUID.fullmatch(event_id):
        return None
    return obj, event_id.lower()


def judge(line: bytes, latest: dt.datetime) -> tuple[Payload, str]:
    """What to send for ``line`` and its event id (lower-case text), or :class:`LineError`.

    ``latest`` is the latest acceptable timestamp (see :func:`horizon`).

    >>> payload, event_id = judge(b'{"event": "signup", "user_id": "u_42"}', horizon())
    >>> payload["event"], event_id == payload["event_id"]
    ('signup', True)
    >>> judge(b'{"event": "signup"}', horizon())
    Traceback (most recent call last):
    evana.cli._judge.LineError: user_id: Field required
    """
    if isinstance(line, TooLong):
        raise LineError(f"line longer than {MAX_LINE_BYTES} bytes (an event is at most ~33 KiB)")
    fast = _fast(line, latest)
    if fast is not None:
        return fast
    try:
        obj = parse_json(line)
    except ValueError as exc:
        raise LineError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise LineError("not a JSON object (each line must be one event object)")
    try:
        event = _validate(obj)
    except ValidationError as exc:
        raise LineError("; ".join(format_errors(exc))) from None
    if event.timestamp is not None and (message := future_error(event.timestamp, latest)):
        raise LineError(message)
    if event.event_id is None:
        derived = derive_event_id(event.event, event.user_id, event.timestamp, event.properties)
        event = event.model_copy(update={"event_id": derived})
    return event, str(event.event_id)
