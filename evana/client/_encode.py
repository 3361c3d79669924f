"""One ``track()`` call in, the JSON bytes of a valid event out: the schema's rules, checked fast.

``track()`` runs on the application's own thread, so it does the least work that still gives
exactly :class:`evana.schema.Event`'s verdict. Properties are made JSON-safe and serialized once
(the bytes are what gets sent; no second pass in the sender). Cheap tests decide the common
case: names that are plain ``str`` of 1-200 characters without NUL or lone surrogates, a
``datetime`` or no timestamp, and serialized properties within the size limit whose bracket count
and escapes rule out excess depth and NUL. Anything else goes through ``Event`` itself, so odd
input gets pydantic's verdict and message. ``tests/client/test_encode.py`` proves with
hypothesis that both paths agree with ``Event``.

JSON-safe means what Segment and PostHog do for values JSON has no type for: datetimes, dates
and UUIDs become ISO/hex strings, ``Decimal`` its exact digits as a string, sets and tuples
lists, NaN and infinities ``null``, other objects ``str(obj)``; keys become strings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import pydantic_core
from pydantic import ValidationError

from evana._uuid import uuid7
from evana.errors import InvalidEventError
from evana.schema import (
    MAX_FUTURE,
    MAX_NAME_LENGTH,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTIES_DEPTH,
    MIN_TIMESTAMP,
    Event,
    format_errors,
)

__all__ = ["encode_event", "encode_prepared", "json_safe"]

_UTC = dt.UTC
_now = dt.datetime.now
_to_json = pydantic_core.to_json
_from_json = pydantic_core.from_json


def json_safe(properties: Mapping[str, Any]) -> bytes:
    """Serialize properties as JSON, turning values JSON has no type for into strings or lists.

    >>> import decimal
    >>> json_safe({"at": dt.date(2026, 11, 2), "price": decimal.Decimal("9.90"), "tags": {"a"}})
    b'{"at":"2026-11-02","price":"9.90","tags":["a"]}'
    """
    try:
        return _to_json(properties, fallback=str, inf_nan_mode="null")
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as exc:
        raise InvalidEventError(f"properties: not serializable as JSON ({exc})") from None


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not valid UTF-8
        return False
    return True


#: Properties shorter than this cannot hold MAX_PROPERTIES_DEPTH + 1 nested brackets.
_SHALLOW = 2 * (MAX_PROPERTIES_DEPTH + 1)


def _properties_ok(raw: bytes) -> bool:
    # Each level of nesting needs an opening bracket (and its closing one), and NUL always
    # serializes as \u0000, so these byte tests can only err towards the exact (slow) check,
    # never past a broken rule.
    size = len(raw)
    return (
        size <= MAX_PROPERTIES_BYTES
        and (size < _SHALLOW or raw.count(b"{") + raw.count(b"[") <= MAX_PROPERTIES_DEPTH)
        and b"\\u0000" not in raw
    )


def _validated(
    event_id: object, event: object, user_id: object, timestamp: object, properties: object
) -> Event:
    try:
        return Event(
            event_id=event_id,  # pydantic judges whatever the caller passed
            event=event,
            user_id=user_id,
            timestamp=timestamp,
            properties=properties,
        )
    except ValidationError as exc:
        errors = format_errors(exc)
        raise InvalidEventError("invalid event: " + "; ".join(errors), errors) from None


def encode_event(
    event: str,
    user_id: str,
    properties: Mapping[str, Any] | None = None,
    timestamp: dt.datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, bytes]:
    """Validate one event by ``Event``'s rules and encode it; raises ``InvalidEventError``.

    The id defaults to a new UUIDv7 and the timestamp to now (UTC); a timestamp more than 24
    hours ahead is refused here, as the server would refuse it.

    >>> when = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    >>> event_id, data = encode_event("signup", "u_42", {"n": 1}, when, uuid.UUID(int=7))
    >>> data[51:]
    b'"event":"signup","user_id":"u_42","timestamp":"2026-11-02T09:15:00Z","properties":{"n":1}}'
    """
    # The common case is decided inline, without helper calls: this runs on every track().
    now = _now(_UTC)
    if event_id is None:
        event_id = uuid7()
    raw: bytes | None = None
    if properties is None:
        fast = True
    elif type(properties) is dict or isinstance(properties, Mapping):
        raw = json_safe(properties if type(properties) is dict else dict(properties))
        fast = _properties_ok(raw)
    else:
        fast = False  # not an object at all: let Event say so
    stamp: Any = timestamp
    if stamp is None:
        stamp = now
    elif type(stamp) is dt.datetime:
        stamp = stamp.replace(tzinfo=_UTC) if stamp.tzinfo is None else stamp.astimezone(_UTC)
        fast = fast and stamp >= MIN_TIMESTAMP
    else:
        fast = False
    if not (
        fast
        and type(event_id) is uuid.UUID
        and type(event) is str
        and type(user_id) is str
        and 0 < len(event) <= MAX_NAME_LENGTH
        and 0 < len(user_id) <= MAX_NAME_LENGTH
        and "\x00" not in event
        and "\x00" not in user_id
        and (event.isascii() or _utf8(event))
        and (user_id.isascii() or _utf8(user_id))
    ):
        # Judge what the server will see: properties in their JSON-safe form, as it parses them.
        wire_properties = properties if raw is None else _from_json(raw)
        model = _validated(event_id, event, user_id, stamp, wire_properties)
        event_id, event, user_id = model.event_id or event_id, model.event, model.user_id
        stamp = model.timestamp
    if timestamp is not None and stamp > now + MAX_FUTURE:
        message = "timestamp: more than 24 hours in the future"
        raise InvalidEventError(message, [message])
    # One serializer call for the id, names (escaped) and timestamp; properties are spliced in.
    head = _to_json({"event_id": event_id, "event": event, "user_id": user_id, "timestamp": stamp})
    if raw is None:
        return event_id, head
    return event_id, b"".join((head[:-1], b',"properties":', raw, b"}"))


def encode_prepared(event: Event | Mapping[str, Any]) -> bytes:
    """Encode an event for ``send_batch``: an ``Event`` as it is, a mapping made JSON-safe.

    A mapping is not validated here: the server judges it and reports it by its index.

    >>> encode_prepared({"event": "a", "user_id": "u"})
    b'{"event":"a","user_id":"u"}'
    """
    if isinstance(event, Event):
        return _to_json(event, exclude_none=True)
    try:
        return _to_json(dict(event), fallback=str, inf_nan_mode="null")
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as exc:
        raise InvalidEventError(f"not serializable as JSON ({exc})") from None
