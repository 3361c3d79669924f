"""What a wire format makes of a request: raw evana events, each with the clock that corrects it.

A wire module maps names and shapes and nothing else: every message becomes an evana event dict
*as received* (``event``, ``user_id``, ``event_id``, ``timestamp``, ``properties``), and the one
validation of evana's event contract decides what is valid. A message a wire module cannot map
at all (not an object, an unknown Segment type) is dropped here with its reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WIRE_ID_NAMESPACE",
    "Decoded",
    "Dropped",
    "Message",
    "event_id",
    "instant",
    "key_from_headers",
    "text_id",
]

#: Namespace of the UUIDv5 ids given to messages whose id is not a UUID (Segment's analytics.js
#: sends ``ajs-next-…``). Fixed forever: changing it would make a retried message count twice.
WIRE_ID_NAMESPACE = uuid.UUID("b3c0a0de-5e6f-4d1c-9a7e-0d2f1e3c4b5a")


_CANONICAL_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


@dataclass(slots=True)
class Message:
    """One message of a request, as an evana event still to validate.

    ``sent_at`` is the sender's clock when it sent the message: validation shifts the event's
    timestamp by (receive time - ``sent_at``). None means no correction (no clock given, a
    backfill, or a timestamp the wire format already made absolute).
    """

    index: int
    event: dict[str, Any]
    sent_at: dt.datetime | None = None


@dataclass(slots=True)
class Dropped:
    """A message no event could be made of, with why."""

    index: int
    reason: str


@dataclass(slots=True)
class Decoded:
    """A request body read by a wire format: its messages, those dropped, and the key it named."""

    messages: list[Message] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    key: str | None = None


def text_id(value: Any) -> str | None:
    """A distinct id as text: SDKs send numbers too, which count as their decimal text.

    >>> text_id(42), text_id(42.0), text_id("u_1"), text_id(None)
    ('42', '42', 'u_1', None)
    """
    if isinstance(value, bool) or value is None:
        return None if value is None else str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value or None
    return None


def event_id(value: Any) -> str | None:
    """A message id as an evana event id: a UUID as is, anything else as its UUIDv5.

    >>> event_id("0192f4c2-6d1e-7b3a-8c4d-5e6f7a8b9c0d")
    '0192f4c2-6d1e-7b3a-8c4d-5e6f7a8b9c0d'
    >>> event_id("ajs-next-1") == event_id("ajs-next-1") != event_id("ajs-next-2")
    True
    """
    if value is None or value == "":
        return None
    if type(value) is str and _CANONICAL_UUID.match(value):
        return value  # nearly every SDK's id: validation reads it, no need to here
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    if text is None:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return str(uuid.uuid5(WIRE_ID_NAMESPACE, text))


def instant(value: Any) -> dt.datetime | None:
    """A sender's clock reading: ISO 8601 text, or milliseconds since the epoch (a number or its
    digits, as posthog-js puts in its query string); None when unreadable, which then corrects
    nothing, as PostHog and Segment ignore a bad ``sent_at``.

    >>> instant("2026-11-02T09:15:00Z"), instant("1793610900000")
    (datetime.datetime(2026, 11, 2, 9, 15, tzinfo=datetime.timezone.utc), datetime.datetime(2026, 11, 2, 9, 15, tzinfo=datetime.timezone.utc))
    """  # noqa: E501
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
        if isinstance(value, str):
            stamp = dt.datetime.fromisoformat(value)
            return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp
    except (ValueError, OverflowError, OSError):
        return None
    return None


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The key in ``Authorization`` (``Bearer <key>``, or Basic with the key as the user name,
    as Segment's SDKs send it), in Segment's ``X-Write-Key``, or in evana's own ``X-API-Key``.

    >>> key_from_headers({"authorization": "Basic " + base64.b64encode(b"k1:").decode()})
    'k1'
    """
    authorization = headers.get("authorization", "").strip()
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            user = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user.partition(":")[0] or None
    for name in ("x-write-key", "x-api-key"):
        if key := headers.get(name, "").strip():
            return key
    return None
