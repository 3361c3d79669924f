"""``evana ingest --database-url``: batches written straight through the storage layer, no HTTP.

A backfill on the machine that holds the database does not need a server in between: the
pipeline (``_pipeline``) judges and batches lines exactly as for the API, and each batch goes
through the server's own code instead of a request: :func:`evana.server._batch.validate_events`
(the same verdict, timestamps stored as written: no ``sent_at``, no skew correction) and
:meth:`EventStore.write` (idempotent by event id). Rejects come back by index, as a ``202``
would carry them, so the rejects file is the same one.

It is safe next to a running ``evana serve`` or ``evana worker`` on the same database: SQLite
(WAL) takes its write lock per transaction with ``BEGIN IMMEDIATE``, so the two processes write
in turn, and PostgreSQL writers are built to run side by side (several workers do). The
database must exist and be migrated to this version's schema: this command never creates or
migrates one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from evana.schema import Event, IngestResult, RejectedEvent

from ._db import existing_database
from ._errors import CliError

if TYPE_CHECKING:
    from evana.server._batch import NormalizedEvent

    from ._judge import Payload
    from ._pipeline import Send

__all__ = ["local_send"]

#: How long one batch may keep failing on a busy or unavailable database before the run stops
#: (the API path's retry budget is the same two minutes).
RETRY_BUDGET = 120.0
_ZERO = dt.timedelta(0)


@functools.cache
def _uuids() -> Any:
    """A validator of lists of UUID text, built on first use."""
    from pydantic import TypeAdapter

    return TypeAdapter(list[uuid.UUID])


def _wire(payload: Event) -> Any:
    """What the server would read for ``payload``: the very JSON the API path would send."""
    import pydantic_core

    from evana.client._encode import encode_prepared

    return pydantic_core.from_json(encode_prepared(payload))


def _normalized(
    payloads: list[Payload], now: dt.datetime
) -> tuple[list[NormalizedEvent], list[RejectedEvent]]:
    """The batch as the server would store it, and its rejects by index.

    A parsed line (a dict) was judged plain and valid by the contract's fast path
    (``_judge._fast``: names, a canonical id, an ISO timestamp, short properties), so it is
    built into a row directly (the contract's property and time checks run again, as the
    server's fast path runs them). Anything else, and any doubt, goes through
    :func:`validate_events`, the server's own path, which also says why a line is refused.
    """
    from evana._contract import MAX_FUTURE, check_properties, place, to_utc
    from evana.server._batch import NormalizedEvent, validate_events

    horizon = now + MAX_FUTURE
    rows: list[NormalizedEvent] = []
    rejected: list[RejectedEvent] = []
    others: list[int] = []
    plain = [p for p in payloads if type(p) is dict]
    # pydantic-core builds UUIDs ~7x faster than uuid.UUID(text), all at once.
    ids = iter(_uuids().validate_python([p["event_id"] for p in plain]) if plain else ())
    parse = dt.datetime.fromisoformat
    for index, payload in enumerate(payloads):
        if type(payload) is not dict:
            others.append(index)
            continue
        event_id = next(ids)
        properties = payload.get("properties")
        when = payload.get("timestamp")
        try:
            if properties is not None:
                check_properties(properties)
            if when is None:
                stamp = now
            else:
                stamp = parse(when)
                if stamp.tzinfo is not dt.UTC:
                    stamp = to_utc(stamp)
                stamp = place(stamp, _ZERO, horizon)
        except ValueError:
            others.append(index)  # the server's path says exactly why
            continue
        rows.append(
            NormalizedEvent(event_id, payload["event"], payload["user_id"], stamp, properties, now)
        )
    if others:
        items = [_wire(p) if isinstance(p := payloads[i], Event) else p for i in others]
        batch = validate_events(items, received_at=now, correct_skew=False)
        rows.extend(batch.events)
        rejected.extend(
            RejectedEvent(index=others[item.index], errors=item.errors) for item in batch.rejected
        )
    return rows, rejected


@contextlib.contextmanager
def local_send(url: str) -> Iterator[Send]:
    """A :data:`~evana.cli._pipeline.Send` that stores batches in the database at ``url``.

    Raises :class:`CliError` when the database does not exist or is not at this version's
    schema. Calls are serialized: one write transaction at a time, as the server's writer does.
    """
    from evana.errors import StorageError, TransientStorageError
    from evana.server._storage import EventStore, current_revision, head_revision

    db = existing_database(url, " (a backfill never creates a database)")
    try:
        try:
            at, head = current_revision(db), head_revision()
        except StorageError as exc:
            raise CliError(f"cannot open the database: {exc}") from None
        if at != head:
            now = f"at revision {at}" if at is not None else "without evana's tables"
            raise CliError(
                f"the database is {now}, this evana needs {head}: run `evana db upgrade`"
                " (or start `evana serve` on it once) first"
            )
        store = EventStore(db)
        lock = threading.Lock()

        def send(payloads: list[Payload]) -> IngestResult:
            rows, rejected = _normalized(payloads, dt.datetime.now(dt.UTC))
            deadline, pause = time.monotonic() + RETRY_BUDGET, 0.25
            while True:
                try:
                    with lock:
                        store.write(rows)
                    break
                except TransientStorageError as exc:
                    if time.monotonic() + pause > deadline:
                        raise CliError(f"cannot write to the database: {exc}") from None
                    time.sleep(pause)  # e.g. a long write of another process: wait our turn
                    pause = min(2 * pause, 10.0)
                except StorageError as exc:
                    raise CliError(f"cannot write to the database: {exc}") from None
            return IngestResult(accepted=len(rows), rejected=rejected)

        yield send
    finally:
        db.dispose()
