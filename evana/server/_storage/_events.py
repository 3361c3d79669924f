"""The write path: events stored idempotently, rollups grown only from rows newly inserted."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from evana.server._batch import NormalizedEvent

from ._compaction import Compactor
from ._database import Database
from ._numbers import write_number_deltas
from ._persons import PersonChanges, link_ids, write_properties
from ._properties import read_tracked, write_property_deltas
from ._rollups import build_deltas, inserted_events, write_deltas
from ._times import write_times
from ._users import UserIds

__all__ = ["EventStore", "WriteResult"]

log = logging.getLogger("evana.storage")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did: events given, events newly stored; the rest were already there."""

    events: int
    inserted: int

    @property
    def duplicates(self) -> int:
        """Events that were already stored (or repeated within the batch)."""
        return self.events - self.inserted


class EventStore:
    """Stores batches of normalized events; ``compactor`` (one per process, shared by its
    stores) merges rollup deltas every so often, never per write.

    >>> from evana.server._storage import Database, create_schema
    >>> import datetime as dt
    >>> db = Database("sqlite://"); create_schema(db)
    >>> store = EventStore(db)
    >>> when = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    >>> ev = NormalizedEvent(__import__("uuid").uuid4(), "signup", "u1", when, None, when)
    >>> store.write([ev, ev]).inserted, store.write([ev]).duplicates
    (1, 1)
    """

    def __init__(self, db: Database, compactor: Compactor | None = None) -> None:
        self.db = db
        self.users = UserIds(db)
        self.compactor = compactor if compactor is not None else Compactor(db)

    def write(self, rows: Sequence[NormalizedEvent]) -> WriteResult:
        """Store ``rows`` once each; a row whose ``event_id`` is stored already changes nothing.

        The events and their rollup deltas commit in one transaction, so rollups count exactly
        the rows inserted. Raises TransientStorageError or PermanentStorageError.
        """
        first: dict[object, NormalizedEvent] = {}
        for row in rows:
            first.setdefault(row.event_id, row)  # the first copy wins, as the database would
        unique = list(first.values())
        if not unique:
            return WriteResult(len(rows), 0)
        changes = PersonChanges.of(unique)
        uids = self.users.resolve([*(row.user_id for row in unique), *changes.other_ids])
        with self.db.write() as conn:
            # First, so that a backfill of property rollups waits for this batch or this batch
            # for it (see _properties): then no event is counted by both, or by neither.
            tracked = read_tracked(conn, self.db.dialect)
            # Person operations are stored like any event, in the same statement; their
            # deltas stay out of the rollups (see build_deltas): they count in no report.
            new = self.db.dialect.store_events(conn, unique)
            deltas = build_deltas((r.timestamp.date(), r.event, uids[r.user_id]) for r in new)
            write_deltas(conn, self.db.dialect, deltas)
            write_property_deltas(conn, self.db.dialect, new, uids, tracked)
            write_number_deltas(conn, new, tracked)
            write_times(conn, self.db.dialect, new, uids)
            # Links and person properties go with the events that carry them (never without:
            # a crash in between would lose them, as the events would be duplicates on resend).
            # Every copy is applied, not only new rows: both are idempotent.
            write_properties(conn, self.db.dialect, changes.property_writes(uids))
            link_ids(conn, self.db.dialect, changes.pairs(uids))
        inserted = inserted_events(deltas)
        try:
            self.compactor.wrote(inserted)
        except Exception as exc:  # the events are committed: a failed pass is retried later
            log.warning("msg=compaction_failed error=%r", f"{type(exc).__name__}: {exc}")
        return WriteResult(len(rows), inserted)

    def user_ids(self, names: Iterable[str]) -> dict[str, int]:
        """Dense integer ids of users, allocating ids for new ones."""
        return self.users.resolve(names)
