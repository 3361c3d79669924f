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
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from evana.schema import Event, IngestResult

from ._db import existing_database
from ._errors import CliError

if TYPE_CHECKING:
    from ._judge import Payload
    from ._pipeline import Send

__all__ = ["local_send"]

#: How long one batch may keep failing on a busy or unavailable database before the run stops
#: (the API path's retry budget is the same two minutes).
RETRY_BUDGET = 120.0


def _wire(payload: Payload) -> Any:
    """What the server would read for ``payload``: a parsed line as it is, else its JSON."""
    if isinstance(payload, Event):
        import pydantic_core

        from evana.client._encode import encode_prepared

        # Rare (lines only Event could judge): the very bytes the API path would send.
        return pydantic_core.from_json(encode_prepared(payload))
    return payload


@contextlib.contextmanager
def local_send(url: str) -> Iterator[Send]:
    """A :data:`~evana.cli._pipeline.Send` that stores batches in the database at ``url``.

    Raises :class:`CliError` when the database does not exist or is not at this version's
    schema. Calls are serialized: one write transaction at a time, as the server's writer does.
    """
    from evana.errors import StorageError, TransientStorageError
    from evana.server._batch import validate_events
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
            items = [_wire(p) for p in payloads]
            batch = validate_events(items, received_at=dt.datetime.now(dt.UTC), correct_skew=False)
            deadline, pause = time.monotonic() + RETRY_BUDGET, 0.25
            while True:
                try:
                    with lock:
                        store.write(batch.events)
                    break
                except TransientStorageError as exc:
                    if time.monotonic() + pause > deadline:
                        raise CliError(f"cannot write to the database: {exc}") from None
                    time.sleep(pause)  # e.g. a long write of another process: wait our turn
                    pause = min(2 * pause, 10.0)
                except StorageError as exc:
                    raise CliError(f"cannot write to the database: {exc}") from None
            return IngestResult(accepted=len(batch.events), rejected=batch.rejected)

        yield send
    finally:
        db.dispose()
