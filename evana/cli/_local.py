"""``evana ingest --database-url``: batches written straight through the storage layer, no HTTP.

A backfill on the machine that holds the database does not need a server in between: the
pipeline (``_pipeline``) judges and batches lines exactly as for the API, and each batch is
stored by the server's own code instead of a request: rows built as the server builds them
(lines only ``Event`` could judge go through :func:`evana.server._batch.validate_events`
itself), timestamps stored as written (no ``sent_at``, no skew correction), and
:meth:`EventStore.write` (idempotent by event id). Rejects come back by index, as a ``202``
would carry them, so the rejects file is the same one. The writes happen in a writer process
of their own while this one reads and judges the next batch (``python -m evana.cli._local``).

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
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from evana.schema import Event, IngestResult, RejectedEvent

from ._db import require_existing
from ._errors import CliError

if TYPE_CHECKING:
    from evana.server._batch import NormalizedEvent
    from evana.server._storage import Database, EventStore

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
    payloads: list[Any], slow: set[int], now: dt.datetime
) -> tuple[list[NormalizedEvent], list[RejectedEvent]]:
    """The batch as the server would store it, and its rejects by index.

    ``payloads`` are JSON objects; those at the indices in ``slow`` are ``Event`` s as the API
    path would send them. Any other was judged plain and valid by the contract's fast path
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
    plain = [p for i, p in enumerate(payloads) if i not in slow]
    # pydantic-core builds UUIDs ~7x faster than uuid.UUID(text), all at once.
    ids = iter(_uuids().validate_python([p["event_id"] for p in plain]) if plain else ())
    parse = dt.datetime.fromisoformat
    for index, payload in enumerate(payloads):
        if index in slow:
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
        batch = validate_events([payloads[i] for i in others], received_at=now, correct_skew=False)
        rows.extend(batch.events)
        rejected.extend(
            RejectedEvent(index=others[item.index], errors=item.errors) for item in batch.rejected
        )
    return rows, rejected


def _write_with_retries(store: EventStore, rows: list[NormalizedEvent]) -> None:
    """``store.write(rows)``, waiting out a busy or briefly unavailable database."""
    from evana.errors import TransientStorageError

    deadline, pause = time.monotonic() + RETRY_BUDGET, 0.25
    while True:
        try:
            store.write(rows)
            return
        except TransientStorageError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)  # e.g. a long write of another process: wait our turn
            pause = min(2 * pause, 10.0)


def _schema_problem(db: Database) -> str | None:
    """Why ``db`` cannot take a backfill (None when it can): this version's schema is needed."""
    from evana.errors import StorageError
    from evana.server._storage import current_revision, head_revision

    try:
        at, head = current_revision(db), head_revision()
    except StorageError as exc:
        return f"cannot open the database: {exc}"
    if at == head:
        return None
    now = f"at revision {at}" if at is not None else "without evana's tables"
    return (
        f"the database is {now}, this evana needs {head}: run `evana db upgrade`"
        " (or start `evana serve` on it once) first"
    )


def _writer_main(url: str, inbox: Connection, outbox: Connection) -> None:
    """The writer process: batches in from ``inbox``, written, their verdicts sent back.

    It first answers ``(True, None)`` when the database can take the backfill, else
    ``(None, message)``. Then a batch is ``(json, others)``: a JSON array of the batch's events
    and the indices of those that only ``Event`` could judge; the answer is
    ``(accepted, [(index, errors), ...])``, or ``(None, message)`` when the database refused
    (the run then stops). It ends when the parent closes its end of ``inbox``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes the pipe
    import pydantic_core

    from evana._heap import settle_heap
    from evana.errors import StorageError
    from evana.server._storage import Database, EventStore

    db = Database(url)
    try:
        problem = _schema_problem(db)
        outbox.send((None, problem) if problem else (True, None))
        if problem:
            return
        store = EventStore(db)
        settle_heap()
        while True:
            try:
                blob, others = inbox.recv()
            except EOFError:
                return
            items = pydantic_core.from_json(blob)
            rows, rejected = _normalized(items, set(others), dt.datetime.now(dt.UTC))
            try:
                _write_with_retries(store, rows)
            except StorageError as exc:
                outbox.send((None, f"cannot write to the database: {exc}"))
                return
            outbox.send((len(rows), [(r.index, r.errors) for r in rejected]))
    except OSError:
        return  # the parent has gone (Ctrl-C, an error): what was written stays written
    finally:
        db.dispose()


@contextlib.contextmanager
def local_send(url: str) -> Iterator[Send]:
    """A :data:`~evana.cli._pipeline.Send` that stores batches in the database at ``url``.

    Raises :class:`CliError` when the database does not exist or is not at this version's
    schema. The batches are written by a process of their own, one at a time, while this one
    reads and judges the next: the two halves of the work then run on two CPUs (threads would
    take turns at the interpreter lock). Calls must not overlap: one batch in flight at a time.
    This process never imports the server's packages: the writer does.
    """
    import pydantic_core

    require_existing(url, " (a backfill never creates a database)")
    # A fresh interpreter (not fork: this process may run threads; not multiprocessing's
    # spawn either: it would import this program's __main__ again), talking over two pipes.
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    writer = subprocess.Popen(
        [sys.executable, "-m", __name__, url, str(down_r), str(up_w)],
        pass_fds=(down_r, up_w),
        stdin=subprocess.DEVNULL,
    )
    os.close(down_r)
    os.close(up_w)
    ours_out, ours_in = Connection(down_w, readable=False), Connection(up_r, writable=False)

    def answer() -> tuple[Any, Any]:
        try:
            done, detail = ours_in.recv()
        except (EOFError, OSError):
            raise CliError(f"the writer process stopped (exit {writer.poll()})") from None
        if done is None:
            raise CliError(detail)
        return done, detail

    def send(payloads: list[Payload]) -> IngestResult:
        others = [i for i, p in enumerate(payloads) if type(p) is not dict]
        items = [_wire(p) if isinstance(p, Event) else p for p in payloads] if others else payloads
        try:
            ours_out.send((pydantic_core.to_json(items), others))
        except OSError:
            raise CliError(f"the writer process stopped (exit {writer.poll()})") from None
        accepted, verdicts = answer()
        rejected = [RejectedEvent(index=i, errors=errors) for i, errors in verdicts]
        return IngestResult(accepted=accepted, rejected=rejected)

    try:
        answer()  # the database is there, at this version's schema
        yield send
    finally:
        ours_out.close()  # the writer finishes the batch in hand (if any), then sees the end
        ours_in.close()
        try:
            writer.wait(RETRY_BUDGET)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait()


if __name__ == "__main__":
    _writer_main(
        sys.argv[1],
        Connection(int(sys.argv[2]), writable=False),
        Connection(int(sys.argv[3]), readable=False),
    )
