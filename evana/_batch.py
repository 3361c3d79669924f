"""Validating a whole batch body: the fast path for clean batches, the exact path for the rest.

A clean batch (the common case) is validated in one pass by a TypedDict whose rules all run in
pydantic-core, then finished in one Python loop. The fast path may only be *stricter* than
:class:`evana.schema.Event`: whatever it is unsure of — a timestamp that is not ISO text, a
NUL, properties failing a check, anything — sends the body to the exact path, which validates
each event on its own with ``Event`` and keeps the valid ones. A test proves both paths agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import (
    Annotated,
    Any,
    NotRequired,  # pydantic needs this one before 3.12
)

import pydantic_core
from pydantic import ConfigDict, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from .schema import (
    MAX_FUTURE,
    MAX_NAME_LENGTH,
    MIN_TIMESTAMP,
    Event,
    IsoDateTime,
    NormalizedEvent,
    RejectedEvent,
    ValidatedBatch,
    _check_properties,
    _Envelope,
    _utc,
    derive_event_id,
    format_errors,
)

__all__ = ["EnvelopeError", "validate_batch"]

_FUTURE = "timestamp: more than 24 hours in the future (after sent_at correction)"

# Rules pydantic-core checks natively. The NUL pattern and the ISO date prefix make the fast
# path refuse what Event refuses with a Python validator (the exact path then says why).
_FastName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[^\x00]*$")
]
_IsoText = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}")]


class _FastEvent(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    event_id: NotRequired[uuid.UUID | None]
    event: _FastName
    user_id: _FastName
    timestamp: NotRequired[_IsoText | None]
    properties: NotRequired[dict[str, Any] | None]


class _FastBatch(TypedDict):
    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    events: list[_FastEvent]
    sent_at: NotRequired[IsoDateTime | None]


_FAST = TypeAdapter(_FastBatch)
_DATETIMES = TypeAdapter(list[dt.datetime])  # the very parser Event's timestamp uses
_ENVELOPE = TypeAdapter(_Envelope)


class EnvelopeError(ValueError):
    """The body is not a batch at all (bad JSON, no ``events`` list, unknown top-level field)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class _NotClean(Exception):
    """The fast path is unsure: validate event by event."""


def validate_batch(
    body: bytes | str | Mapping[str, Any],
    *,
    received_at: dt.datetime | None = None,
    exact: bool = False,
) -> ValidatedBatch:
    """Validate a batch body and normalize its valid events.

    Raises :class:`EnvelopeError` when the body is not a batch; rejects single events (with
    their index and reasons) while keeping the rest. ``exact=True`` skips the fast path (tests
    compare the two).

    >>> batch = validate_batch(b'{"events": [{"event": "a", "user_id": "u"}, {"event": ""}]}')
    >>> len(batch.events), batch.rejected[0].index
    (1, 1)
    """
    now = _utc(received_at) if received_at is not None else dt.datetime.now(dt.UTC)
    if not exact and not isinstance(body, Mapping):
        try:
            return _fast(body, now)
        except (ValidationError, _NotClean):
            pass
    events, sent_at, rejected = _validate_each(body)
    return _normalize(events, sent_at, rejected, now)


def _fast(body: bytes | str, now: dt.datetime) -> ValidatedBatch:
    parsed = _FAST.validate_json(body)
    items = parsed["events"]
    texts = [text for item in items if (text := item.get("timestamp")) is not None]
    parsed_times = iter(_DATETIMES.validate_python(texts)) if texts else iter(())
    sent_at = parsed.get("sent_at")
    skew = now - _utc(sent_at) if sent_at is not None else dt.timedelta(0)
    horizon = now + MAX_FUTURE
    batch = ValidatedBatch(received_at=now)
    for index, item in enumerate(items):
        # Event's own rules first, as the exact path does; the future limit applies after.
        properties = item.get("properties")
        if properties is not None:
            try:
                _check_properties(properties)
            except ValueError:
                raise _NotClean from None
        stamp = given = None
        if item.get("timestamp") is not None:
            given = _utc(next(parsed_times))
            if given < MIN_TIMESTAMP:
                raise _NotClean
            stamp = given + skew
            if stamp > horizon:
                batch.rejected.append(RejectedEvent(index=index, errors=[_FUTURE]))
                continue
        name, user = item["event"], item["user_id"]
        event_id = item.get("event_id") or derive_event_id(name, user, given, properties)
        batch.events.append(NormalizedEvent(event_id, name, user, stamp or now, properties, now))
    return batch


def _normalize(
    events: Sequence[tuple[int, Event]],
    sent_at: dt.datetime | None,
    rejected: list[RejectedEvent],
    now: dt.datetime,
) -> ValidatedBatch:
    skew = now - _utc(sent_at) if sent_at is not None else dt.timedelta(0)
    batch = ValidatedBatch(received_at=now, rejected=rejected)
    horizon = now + MAX_FUTURE
    for index, item in events:
        stamp = item.timestamp
        if stamp is not None:
            stamp = stamp + skew
            if stamp > horizon:
                batch.rejected.append(RejectedEvent(index=index, errors=[_FUTURE]))
                continue
        event_id = item.event_id or derive_event_id(
            item.event, item.user_id, item.timestamp, item.properties
        )
        batch.events.append(
            NormalizedEvent(event_id, item.event, item.user_id, stamp or now, item.properties, now)
        )
    batch.rejected.sort(key=lambda r: r.index)
    return batch


def _validate_each(
    body: bytes | str | Mapping[str, Any],
) -> tuple[list[tuple[int, Event]], dt.datetime | None, list[RejectedEvent]]:
    try:
        raw = body if isinstance(body, Mapping) else pydantic_core.from_json(body)
    except ValueError as exc:
        raise EnvelopeError([f"body is not valid JSON: {exc}"]) from None
    if not isinstance(raw, Mapping):
        raise EnvelopeError(['the body must be a JSON object: {"events": [...], "sent_at": ...}'])
    try:
        envelope = _ENVELOPE.validate_python(raw)
    except ValidationError as exc:
        raise EnvelopeError(format_errors(exc)) from None
    events: list[tuple[int, Event]] = []
    rejected: list[RejectedEvent] = []
    for index, item in enumerate(envelope.events):
        try:
            events.append((index, Event.model_validate(item)))
        except ValidationError as exc:
            rejected.append(RejectedEvent(index=index, errors=format_errors(exc)))
    return events, envelope.sent_at, rejected
