"""The JetStream message format of a batch: compact, versioned JSON, split to fit max_payload.

One message is ``{"v": 1, "batch": "<batch id>", "events": [[id, event, user_id, ts, props,
received], ...]}`` with the event id as 32 hex digits and both times as integer microseconds
since the Unix epoch (UTC): exact, and about half the size of the objects the API received.
A batch larger than the server's ``max_payload`` becomes several such messages, each holding
whole events; every part carries the same batch id.

Both ends use msgspec's compiled JSON codec: the API encodes a batch in one call, and a worker
decodes a message straight into typed rows (the event id parsed, every field's type checked), so
a hand-made message cannot smuggle other types in and no per-field Python check is needed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from evana.errors import QueueError
from evana.server._batch import NormalizedEvent

from ._base import Batch

__all__ = ["VERSION", "decode", "encode"]

#: Bumped when the format changes; a worker refuses (dead-letters) versions it does not know.
VERSION = 1

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


class _Row(msgspec.Struct, array_like=True):
    """One event of a message: ``[id, event, user_id, ts, props, received]``."""

    event_id: uuid.UUID
    event: str
    user_id: str
    timestamp: int
    properties: dict[str, Any] | None
    received_at: int


class _Message(msgspec.Struct):
    v: int
    batch: str
    events: list[_Row]


class _Version(msgspec.Struct):
    v: Any = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Message)
_version = msgspec.json.Decoder(_Version)


def _micros(value: dt.datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _row(event: NormalizedEvent) -> list[Any]:
    return [
        event.event_id.hex,
        event.event,
        event.user_id,
        _micros(event.timestamp),
        event.properties,
        _micros(event.received_at),
    ]


def _envelope(batch_id: str, rows: Sequence[bytes]) -> bytes:
    head = b'{"v":%d,"batch":%s,"events":[' % (VERSION, _encoder.encode(batch_id))
    return head + b",".join(rows) + b"]}"


def encode(batch: Batch, max_bytes: int) -> list[bytes]:
    """The messages carrying ``batch``: one when it fits in ``max_bytes``, else several.

    Raises QueueError when a single event is larger than ``max_bytes`` (a NATS server
    configured with a tiny ``max_payload``: the API's limits keep events far smaller).

    >>> when = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    >>> ev = NormalizedEvent(uuid.UUID(int=1), "signup", "u_42", when, None, when)
    >>> [decode(m).events == [ev] for m in encode(Batch.of([ev]), 1024)]
    [True]
    """
    rows = [_row(event) for event in batch.events]
    whole = _encoder.encode({"v": VERSION, "batch": batch.id, "events": rows})
    if len(whole) <= max_bytes:  # the common case: one call for the whole batch
        return [whole]
    return _split(batch.id, [_encoder.encode(row) for row in rows], max_bytes)


def _split(batch_id: str, rows: list[bytes], max_bytes: int) -> list[bytes]:
    """Messages of at most ``max_bytes`` holding whole ``rows``, in order."""
    budget = max_bytes - len(_envelope(batch_id, []))
    parts: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for row in rows:
        if len(row) > budget:
            raise QueueError(
                f"an event of {len(row)} bytes does not fit in a NATS message of at most"
                f" {max_bytes} bytes: raise the server's max_payload"
            )
        if chunk and size + len(row) + 1 > budget:
            parts.append(_envelope(batch_id, chunk))
            chunk, size = [], 0
        chunk.append(row)
        size += len(row) + 1  # the separating comma
    parts.append(_envelope(batch_id, chunk))
    return parts


def decode(payload: bytes) -> Batch:
    """The batch (or part of one) a message carries; ValueError when it is not one."""
    try:
        message = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValueError(
            f"not an evana batch message: {_unknown_version(payload) or exc}"
        ) from None
    if message.v != VERSION:
        raise ValueError(f"not an evana batch message: {_unknown_version(payload)}")
    received: dict[int, dt.datetime] = {}  # one receive time per batch: convert it once
    try:
        events = [_event(row, received) for row in message.events]
    except OverflowError as exc:
        raise ValueError(f"not an evana batch message: {exc}") from None
    return Batch(message.batch, events)


def _unknown_version(payload: bytes) -> str | None:
    """The complaint about a message of another format version, None for any other fault."""
    try:
        version = _version.decode(payload).v
    except msgspec.DecodeError:
        return None
    return (
        None if version == VERSION else f"unknown message version {version!r}; expected {VERSION}"
    )


def _event(row: _Row, received: dict[int, dt.datetime]) -> NormalizedEvent:
    received_us = row.received_at
    received_at = received.get(received_us)
    if received_at is None:
        received_at = received[received_us] = _EPOCH + received_us * _MICROSECOND
    return NormalizedEvent(
        row.event_id,
        row.event,
        row.user_id,
        _EPOCH + row.timestamp * _MICROSECOND,
        row.properties,
        received_at,
    )
