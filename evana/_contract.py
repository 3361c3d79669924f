"""The event contract: every limit, message and check of a valid event, in one place.

DESIGN.md's "Event" rules live here and nowhere else. :class:`evana.schema.Event` is built from
these checks, and every path that judges an event calls them: the SDK's ``track()``
(``client/_encode.py``), ``evana ingest``'s lines (``cli/_judge.py``), the server's batches and the
wire formats of other SDKs (``server/_batch.py``). A fast path may skip the model for input it
can decide cheaply, but it decides with the predicates below (:func:`name_ok`,
:func:`properties_bytes_ok`, the ``*_PATTERN`` constraints), never with rules of its own; a
compiled decoder would take its constraints from the same constants.

Time, in the order the server applies it (:func:`clock_skew`, :func:`place`): a timestamp is read
as ISO 8601 (naive means UTC) and must be on or after 1970; a batch's ``sent_at`` corrects the
sender's clock only when it is off by more than :data:`SKEW_TOLERANCE` (so the request's transit
time never moves an event); the corrected instant must still lie in years 1970-9999 and no more
than 24 hours ahead of the receive time. Each failure rejects that event alone.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

import pydantic_core
from pydantic import ValidationError

__all__ = [
    "EVENT_FIELDS",
    "EVENT_ID_NAMESPACE",
    "ISO_PREFIX_PATTERN",
    "MAX_FUTURE",
    "MAX_NAME_LENGTH",
    "MAX_PROPERTIES_BYTES",
    "MAX_PROPERTIES_DEPTH",
    "MIN_TIMESTAMP",
    "NAME_PATTERN",
    "SKEW_TOLERANCE",
    "check_field_names",
    "check_properties",
    "check_text",
    "check_timestamp",
    "check_unicode",
    "clock_skew",
    "derive_event_id",
    "format_errors",
    "future_error",
    "iso_only",
    "name_ok",
    "parse_json",
    "place",
    "properties_bytes_ok",
    "to_utc",
    "user_id_text",
]

# -- limits ---------------------------------------------------------------------------------------

EVENT_FIELDS = ("event_id", "event", "user_id", "timestamp", "properties")
MAX_NAME_LENGTH = 200
MAX_PROPERTIES_BYTES = 32 * 1024
#: Deeper objects are rejected per event; the JSON parser itself gives up (whole body) past 255.
MAX_PROPERTIES_DEPTH = 64
MAX_FUTURE = dt.timedelta(hours=24)
#: Earliest accepted timestamp: the Unix epoch. Older values are almost always a unit bug
#: (seconds sent as milliseconds' worth of nothing, a zero date) rather than real history.
MIN_TIMESTAMP = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: A ``sent_at`` within this of the receive time corrects nothing. The gap is then the request's
#: transit time (a slow upload, a retry's wait, a busy server), not a wrong clock, and an
#: application whose clock is right must see its timestamps stored as given (an event at
#: 23:59:59.999 stays on its day). Clocks that are really off are off by minutes or hours.
SKEW_TOLERANCE = dt.timedelta(seconds=60)
#: Namespace of content-derived event ids (uuid5), fixed forever: changing it would make a
#: re-sent file count twice.
EVENT_ID_NAMESPACE = uuid.UUID("6f2b1c57-0c84-4c1e-9d6e-3b6a2f0e7a11")

#: ``event`` and ``user_id`` as pydantic-core (or any compiled decoder) can check them natively:
#: 1 to MAX_NAME_LENGTH characters, no NUL. Lone surrogates cannot come out of a JSON decoder
#: that refuses them, and :func:`check_text` catches them everywhere else.
NAME_PATTERN = r"^[^\x00]*$"
#: What a timestamp's text must start with before a date-time parser may look at it.
ISO_PREFIX_PATTERN = r"^\d{4}-\d{2}-\d{2}"

# -- messages -------------------------------------------------------------------------------------

NUL = "must not contain NUL characters (\\u0000)"
SURROGATE = (
    "must be valid Unicode: a lone UTF-16 surrogate (such as \\ud83d, half of an emoji cut"
    " in two) is not"
)
ISO_TEXT = "must be ISO 8601, such as 2026-11-02 or 2026-11-02T09:15:00Z"
ISO_NUMBER = "must be an ISO 8601 string, not a number"
BEFORE_1970 = "is before 1970-01-01T00:00:00Z"
AFTER_9999 = "is after 9999-12-31T23:59:59Z"
NOT_JSON = "not serializable as JSON"
TOO_DEEP = f"nested deeper than {MAX_PROPERTIES_DEPTH} levels"
NON_FINITE = "NaN and Infinity (or numbers beyond a double, like 1e400) are not JSON"
UNKNOWN_FIELD = f"unknown field (allowed: {', '.join(EVENT_FIELDS)})"
FUTURE = "timestamp: more than 24 hours in the future"
FUTURE_CORRECTED = FUTURE + " (after sent_at correction)"
OUTSIDE_CORRECTED = "timestamp: outside years 1970-9999 after sent_at correction"

_UTC = dt.UTC
_ZERO = dt.timedelta(0)
_ISO_PREFIX = re.compile(ISO_PREFIX_PATTERN)
_LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

# -- text -----------------------------------------------------------------------------------------


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not valid UTF-8
        return False
    return True


def name_ok(value: object) -> bool:
    """Whether ``value`` is a valid ``event`` or ``user_id`` (the fast paths' test).

    >>> name_ok("signup"), name_ok(""), name_ok("a\\x00"), name_ok("\\ud83d"), name_ok(42)
    (True, False, False, False, False)
    """
    return (
        type(value) is str
        and 0 < len(value) <= MAX_NAME_LENGTH
        and "\x00" not in value
        and (value.isascii() or _utf8(value))
    )


def check_text(value: Any) -> Any:
    """Refuse text the store cannot keep: NUL (PostgreSQL text and jsonb cannot hold it) and lone
    surrogates (not UTF-8). Other values pass, for the type check to judge."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(NUL)
        if not (value.isascii() or _utf8(value)):
            raise ValueError(SURROGATE)
    return value


def check_unicode(value: Any) -> Any:
    """Refuse a ``str`` holding a lone surrogate (with :data:`SURROGATE`); other values pass."""
    if isinstance(value, str) and not (value.isascii() or _utf8(value)):
        raise ValueError(SURROGATE)
    return value


def check_field_names(value: Any) -> Any:
    """Refuse an object whose field names hold a lone surrogate; other values pass.

    Such a name cannot even be reported as an unknown field, so it gets its own message.
    """
    if isinstance(value, Mapping):
        for key in value:
            if isinstance(key, str) and not (key.isascii() or _utf8(key)):
                raise ValueError("field names " + SURROGATE)
    return value


def user_id_text(value: Any) -> Any:
    """An integer user id as text, as PostHog's and Segment's SDKs send numbers; other values as
    they are. ``bool`` is not a number here: ``True`` is far likelier a bug than user 1.

    >>> user_id_text(42), user_id_text("u_42"), user_id_text(True)
    ('42', 'u_42', True)
    """
    return str(value) if type(value) is int else value


# -- time -----------------------------------------------------------------------------------------


def iso_only(value: Any) -> Any:
    """Refuse numbers and non-ISO text before a date-time parser reads them.

    pydantic would read 0 or "1700000000" as a Unix time; the wire format promises ISO 8601, and
    a number here is almost always a unit bug (seconds vs milliseconds).
    """
    if isinstance(value, str) and not _ISO_PREFIX.match(value):
        raise ValueError(ISO_TEXT)
    check_unicode(value)
    if isinstance(value, int | float):
        raise ValueError(ISO_NUMBER)
    return value


def to_utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC (naive means UTC); ValueError when that leaves years 1-9999.

    >>> to_utc(dt.datetime.fromisoformat("2026-11-02T10:15:00+01:00")).isoformat()
    '2026-11-02T09:15:00+00:00'
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    try:
        return value.astimezone(_UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00, 9999-12-31T23:59-01:00
        raise ValueError(BEFORE_1970 if value.year < 1970 else AFTER_9999) from None


def check_timestamp(value: dt.datetime) -> dt.datetime:
    """A timestamp as given, in UTC and not before 1970; ValueError otherwise."""
    value = to_utc(value)
    if value < MIN_TIMESTAMP:
        raise ValueError(BEFORE_1970)
    return value


def clock_skew(received_at: dt.datetime, sent_at: dt.datetime | None) -> dt.timedelta:
    """How far to move a batch's timestamps: ``received_at - sent_at``, or nothing when there is
    no ``sent_at`` or it is within :data:`SKEW_TOLERANCE` of the receive time.

    Never overflows, whatever ``sent_at`` is (year 1 or 9999, any offset).

    >>> now = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    >>> clock_skew(now, now - dt.timedelta(seconds=3)), clock_skew(now, now - dt.timedelta(hours=1))
    (datetime.timedelta(0), datetime.timedelta(seconds=3600))
    """
    if sent_at is None:
        return _ZERO
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=_UTC)
    skew = received_at - sent_at  # aware minus aware: exact, no calendar overflow
    return skew if abs(skew) > SKEW_TOLERANCE else _ZERO


def place(timestamp: dt.datetime, skew: dt.timedelta, horizon: dt.datetime) -> dt.datetime:
    """The instant to store for a valid (UTC) ``timestamp``: moved by ``skew``, then checked
    against years 1970-9999 and ``horizon`` (receive time + 24 hours). ValueError says why not.

    >>> t = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    >>> place(t, dt.timedelta(hours=1), t + dt.timedelta(days=1)).hour
    10
    """
    if skew:
        try:
            stamp = timestamp + skew
        except OverflowError:
            raise ValueError(OUTSIDE_CORRECTED) from None
        if stamp < MIN_TIMESTAMP:
            raise ValueError(OUTSIDE_CORRECTED)
        if stamp > horizon:
            raise ValueError(FUTURE_CORRECTED)
        return stamp
    if timestamp > horizon:
        raise ValueError(FUTURE)
    return timestamp


def future_error(timestamp: dt.datetime, horizon: dt.datetime) -> str | None:
    """The message for a timestamp past ``horizon`` without correction (SDK, CLI), else None."""
    return FUTURE if timestamp > horizon else None


# -- properties -----------------------------------------------------------------------------------

#: Properties shorter than this cannot hold MAX_PROPERTIES_DEPTH + 1 nested brackets.
_SHALLOW = 2 * (MAX_PROPERTIES_DEPTH + 1)
#: What serialized properties show when they may hold NUL or a non-finite number.
_SUSPECT = re.compile(rb"\\u0000|NaN|Infinity")


def properties_bytes_ok(raw: bytes) -> bool:
    """Cheap tests on serialized properties that can only err towards :func:`check_properties`.

    Each level of nesting needs an opening bracket, and NUL always serializes as ``\\u0000``, so
    True means the size, depth and NUL rules hold; False means "ask check_properties".
    """
    size = len(raw)
    return (
        size <= MAX_PROPERTIES_BYTES
        and (size < _SHALLOW or raw.count(b"{") + raw.count(b"[") <= MAX_PROPERTIES_DEPTH)
        and b"\\u0000" not in raw
    )


def check_properties(value: Mapping[str, Any]) -> None:
    """Raise ValueError when properties are too big, too deep, or hold what the store can't keep."""
    try:
        raw = pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, ValueError) as exc:
        if _any_text(value, lambda text: not _utf8(text)):
            raise ValueError(SURROGATE) from None
        raise ValueError(f"{NOT_JSON} ({exc})") from None
    size = len(raw)
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(
            f"serialized size {size} bytes is over the {MAX_PROPERTIES_BYTES} byte limit"
        )
    # Cheap byte tests first; the exact walks only run when one of them hints at a problem.
    if (
        size >= _SHALLOW
        and raw.count(b"{") + raw.count(b"[") > MAX_PROPERTIES_DEPTH
        and _depth(value) > MAX_PROPERTIES_DEPTH
    ):
        raise ValueError(TOO_DEEP)
    if _SUSPECT.search(raw) is None:  # one scan: no NUL, NaN or Infinity can be inside
        return
    if b"\\u0000" in raw and _any_text(value, lambda text: "\x00" in text):
        raise ValueError(NUL)
    if (b"NaN" in raw or b"Infinity" in raw) and _has_non_finite(value):
        # The JSON parser lets NaN/Infinity through, but they are not JSON (RFC 8259) and
        # PostgreSQL's jsonb refuses them: reject the event here rather than poison a batch.
        raise ValueError(NON_FINITE)


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _any_text(value: Any, test: Any) -> bool:
    """Whether ``test`` holds for any string in ``value``, keys included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if test(item):
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


# -- JSON -----------------------------------------------------------------------------------------


def parse_json(data: bytes | str) -> Any:
    """Parse JSON as every path does: pydantic-core's parser, and for text holding a lone UTF-16
    surrogate escape (``"\\ud83d"``, valid JSON that JavaScript produces when it cuts an emoji)
    the standard library's, so that the event holding it is rejected alone, with its reason.

    >>> parse_json(b'{"e": "\\\\ud83d"}') == {"e": "\\ud83d"}
    True
    """
    try:
        return pydantic_core.from_json(data)
    except ValueError:
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        if not _LONE_SURROGATE_ESCAPE.search(raw):
            raise
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
        raise


# -- identity -------------------------------------------------------------------------------------


def _canonical_properties(properties: Mapping[str, Any] | None) -> Any:
    if not properties:
        return None
    return pydantic_core.to_jsonable_python(properties)


def derive_event_id(
    event: str,
    user_id: str,
    timestamp: dt.datetime | None = None,
    properties: Mapping[str, Any] | None = None,
    *,
    received_at: dt.datetime | None = None,
    index: int = 0,
) -> uuid.UUID:
    """The deterministic id of an event without one: a UUIDv5 of its canonical content.

    The same content always gives the same id, so a re-sent copy is recognised as a duplicate.
    The timestamp counts as the instant it names (any offset), properties regardless of key
    order, and ``{}`` the same as no properties.

    An event with neither id nor timestamp says nothing that tells two sends apart, and counting
    it once forever would make its user active on one day only. The server passes such an event's
    ``received_at`` and its ``index`` in the batch: each send (and each copy in a batch) is then a
    new event, while a redelivery of the same accepted batch keeps its ids.

    >>> a = derive_event_id("signup", "u_42", dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC))
    >>> later = dt.datetime.fromisoformat("2026-11-02T10:15:00+01:00")
    >>> b = derive_event_id("signup", "u_42", later)
    >>> a == b, a.version
    (True, 5)
    """
    stamp = None
    if timestamp is not None:
        stamp = to_utc(timestamp).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    content: list[Any] = [event, user_id, stamp, _canonical_properties(properties)]
    if received_at is not None and timestamp is None:
        content.append([to_utc(received_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), index])
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return uuid.uuid5(EVENT_ID_NAMESPACE, canonical)


# -- messages of the model ------------------------------------------------------------------------


def format_errors(error: ValidationError, *, skip: int = 0) -> list[str]:
    """One ``"field: message"`` string per pydantic error (``skip`` drops leading loc parts)."""
    out = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item["loc"][skip:])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = UNKNOWN_FIELD
        out.append(f"{loc}: {message}" if loc else message)
    return out
