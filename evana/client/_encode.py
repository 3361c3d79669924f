"""One ``track()`` call in, the JSON bytes of a valid event out: the schema's rules, checked fast.

``track()`` runs on the application's own thread, so it does the least work that still gives
exactly :class:`evana.schema.Event`'s verdict. Properties are made JSON-safe and serialized once
(the bytes are what gets sent; no second pass in the sender). The contract's cheap predicates
decide the common case (:func:`evana._contract.name_ok` for the names, a ``datetime`` or no
timestamp, :func:`evana._contract.properties_bytes_ok` for the serialized properties); anything
else goes through ``Event`` itself, so odd input gets its verdict and message.
``tests/test_event_contract.py`` proves that this path, the CLI's and the server's agree.

An integer ``user_id`` is sent as its text (``42`` as ``"42"``), as PostHog's and Segment's SDKs
do; a timestamp given by the application is sent as given, and the server stores it as given
unless the batch's ``sent_at`` shows the application's clock is minutes or hours off.

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

from evana._contract import (
    MAX_FUTURE,
    MIN_TIMESTAMP,
    format_errors,
    future_error,
    name_ok,
    properties_bytes_ok,
    user_id_text,
)
from evana._uuid import uuid7
from evana.errors import InvalidEventError
from evana.schema import Event

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


def _utc_stamp(stamp: Any) -> tuple[Any, bool]:
    """A ``datetime`` in UTC and whether it is plainly valid; anything else as it is, for Event."""
    if type(stamp) is not dt.datetime:
        return stamp, False
    try:
        stamp = stamp.replace(tzinfo=_UTC) if stamp.tzinfo is None else stamp.astimezone(_UTC)
    except OverflowError:  # left the calendar in UTC: Event says which end
        return stamp, False
    return stamp, stamp >= MIN_TIMESTAMP


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


def _encoded(
    event_id: uuid.UUID, event: object, user_id: object, stamp: dt.datetime, properties: object
) -> bytes | None:
    """The whole event in one serializer call, or None when its properties need a closer look.

    :func:`properties_bytes_ok` on the whole event can only err towards "look closer": the
    event is bigger than its properties, has one more bracket, and valid names hold no NUL.
    """
    fields: dict[str, Any] = {
        "event_id": event_id,
        "event": event,
        "user_id": user_id,
        "timestamp": stamp,
    }
    if properties is None:
        return _to_json(fields)
    if type(properties) is not dict:
        return None
    fields["properties"] = properties
    try:
        data = _to_json(fields, fallback=str, inf_nan_mode="null")
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError):
        return None
    return data if properties_bytes_ok(data) else None


def encode_event(
    event: str,
    user_id: str | int,
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
    # The common case is decided with few calls: this runs on every track().
    now = _now(_UTC)
    if event_id is None:
        event_id = uuid7()
    if type(user_id) is int:  # the check inline: this runs on every track()
        user_id = user_id_text(user_id)
    stamp, plain = (now, True) if timestamp is None else _utc_stamp(timestamp)
    if plain and type(event_id) is uuid.UUID and name_ok(event) and name_ok(user_id):
        data = _encoded(event_id, event, user_id, stamp, properties)
        if data is not None:
            if timestamp is not None and (message := future_error(stamp, now + MAX_FUTURE)):
                raise InvalidEventError(message, [message])
            return event_id, data
    return _judged(event_id, event, user_id, timestamp, stamp, plain, properties, now)


def _judged(
    event_id: Any,
    event: Any,
    user_id: Any,
    timestamp: dt.datetime | None,
    stamp: Any,
    plain: bool,
    properties: Any,
    now: dt.datetime,
) -> tuple[uuid.UUID, bytes]:
    """:func:`encode_event` for what its one-call path was unsure of: properties on their own,
    and ``Event``'s verdict (with every field's message) where the predicates are unsure."""
    raw: bytes | None = None
    if properties is None:
        fast = True
    elif type(properties) is dict or isinstance(properties, Mapping):
        try:
            raw = json_safe(properties if type(properties) is dict else dict(properties))
        except InvalidEventError:
            fast = False  # e.g. a lone surrogate: Event says why, with the other fields' errors
        else:
            fast = properties_bytes_ok(raw)
    else:
        fast = False  # not an object at all: let Event say so
    fast = fast and plain
    if not (fast and type(event_id) is uuid.UUID and name_ok(event) and name_ok(user_id)):
        # Judge what the server will see: properties in their JSON-safe form, as it parses them.
        wire_properties = properties if raw is None else _from_json(raw)
        model = _validated(event_id, event, user_id, stamp, wire_properties)
        event_id, event, user_id = model.event_id or event_id, model.event, model.user_id
        stamp = model.timestamp
    if timestamp is not None and (message := future_error(stamp, now + MAX_FUTURE)):
        raise InvalidEventError(message, [message])
    # One serializer call for the id, names (escaped) and timestamp; properties are spliced in.
    head = _to_json({"event_id": event_id, "event": event, "user_id": user_id, "timestamp": stamp})
    if raw is None:
        return event_id, head
    return event_id, b"".join((head[:-1], b',"properties":', raw, b"}"))


def encode_prepared(event: Event | Mapping[str, Any]) -> bytes:
    """Encode an event for ``send_batch``: an ``Event`` as it is, a mapping made JSON-safe.

    A mapping is not validated here: the server judges it and reports it by its index. An event
    with neither id nor timestamp gets a new UUIDv7 here, so that a retry of the request is the
    same event again (the server would make each send a new event).

    >>> encode_prepared({"event": "a", "user_id": "u", "event_id": "0192f4c2-0000-7000-8000-0"})
    b'{"event":"a","user_id":"u","event_id":"0192f4c2-0000-7000-8000-0"}'
    """
    if isinstance(event, Event):
        if event.event_id is None and event.timestamp is None:
            event = event.model_copy(update={"event_id": uuid7()})
        return _to_json(event, exclude_none=True)
    fields = dict(event)
    if fields.get("event_id") is None and fields.get("timestamp") is None:
        fields["event_id"] = str(uuid7())
    try:
        return _to_json(fields, fallback=str, inf_nan_mode="null")
    except (pydantic_core.PydanticSerializationError, ValueError, TypeError) as exc:
        raise InvalidEventError(f"not serializable as JSON ({exc})") from None
