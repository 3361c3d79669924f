"""Compaction: merging a rollup key's delta rows into one, so reports union few rows.

A key is merged once it has gathered more than ``COMPACT_AFTER`` rows, and every key of a day
that is over (before yesterday) once it has more than one — finished days end up as one row per
key. Writers never compact: a :class:`Compactor` runs a pass every so many events or seconds,
and only one process at a time does (the others skip their turn), so the cost does not grow
with the number of workers. A merge takes its keys' rewrite locks without waiting (a key that
an erasure is rewriting is skipped: it is merged at the next pass) and reads the rows only once
it holds them (see ``Dialect.lock_rollup_keys``); writers, which only insert, never wait for it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pyroaring import BitMap
from sqlalchemy import Connection, Table, delete, func, or_, select, tuple_

from ._database import Database
from ._dialect import any_of, rows_of_keys
from ._numbers import merge_keys
from ._partitions import keep_months_ahead
from ._properties import merge_values
from ._rollups import RollupRow
from ._tables import event_times, number_rollups, property_rollups, rollups
from ._times import merge_times

__all__ = ["COMPACT_AFTER", "Compactor", "PassResult", "compact", "settle"]

log = logging.getLogger("evana.compaction")

#: Rows a key may gather before a compaction merges them: reports union about this many.
COMPACT_AFTER = 8
#: Keys merged per pass (bounds the time one pass takes; the rest wait for the next).
SETTLE_LIMIT = 2000
#: Keys merged per transaction: few enough that an erasure waiting for one is not held long.
MERGE_CHUNK = 200
#: Every this many passes, one looks at every key rather than at those written since the last.
FULL_PASS_EVERY = 30
#: A look for due keys keeps up to this many passes' worth of them (the rest wait for a later
#: look).
BACKLOG_PASSES = 20
#: A pass runs after this many events written by this process ...
PASS_EVERY_EVENTS = 50_000
#: ... or this many seconds after the last one, whichever comes first.
PASS_EVERY_SECONDS = 2.0

Key = tuple[dt.date, str]


def _merge_chunk(db: Database, keys: Sequence[Key], table: Table) -> int:
    """Merge the rows of each of ``keys`` whose lock is free, in one transaction."""
    with db.write() as conn:
        locked = db.dialect.try_lock_rollup_keys(conn, keys)
        if not locked:
            return 0
        # A statement of its own, after the locks: it sees the rows of whoever held them before.
        rows: dict[Key, list[tuple[int, int]]] = {}
        for key, (row_id, events) in rows_of_keys(conn, table, locked, table.c.id, table.c.events):
            rows.setdefault(key, []).append((row_id, events))
        rows = {key: parts for key, parts in rows.items() if len(parts) > 1}
        gone = [row_id for parts in rows.values() for row_id, _ in parts]
        if not gone:
            return 0
        # The bitmaps by id, in the binary protocol (bytea in text travels hex-encoded).
        blobs = dict(db.dialect.fetch_blobs(conn, table, "users", gone))
        merged: list[RollupRow] = []
        for (day, name), parts in sorted(rows.items()):
            users = BitMap.union(*(BitMap.deserialize(blobs[row_id]) for row_id, _ in parts))
            users.run_optimize()
            merged.append((day, name, sum(events for _, events in parts), users.serialize()))
        conn.execute(delete(table).where(any_of(conn, table.c.id, gone)))
        db.dialect.append_rollups(conn, merged, table)
        return len(merged)


def _merge(db: Database, keys: Sequence[Key], table: Table = rollups) -> int:
    return sum(
        _merge_chunk(db, keys[i : i + MERGE_CHUNK], table) for i in range(0, len(keys), MERGE_CHUNK)
    )


def compact(db: Database, keys: Iterable[Key], *, threshold: int = COMPACT_AFTER) -> int:
    """Merge the rows of every given key that has more than ``threshold``; return keys merged."""
    wanted = set(keys)
    if not wanted:
        return 0
    days = sorted({day for day, _ in wanted})
    with db.read() as conn:
        crowded = sorted(
            (day, name)
            for day, name in conn.execute(
                select(rollups.c.day, rollups.c.event)
                .where(rollups.c.day.in_(days))
                .group_by(rollups.c.day, rollups.c.event)
                .having(func.count() > threshold)
            )
            if (day, name) in wanted
        )
    return _merge(db, crowded)


def _merge_with(merge: Callable[[Connection, Sequence[Key]], int]) -> Merge:
    """A merge of the keys of a table whose rows are not bitmaps (number summaries, event
    times, a property's values), as :func:`_merge` does bitmap ones: ``merge`` replaces
    locked keys' rows by one."""

    def run(db: Database, keys: Sequence[Key]) -> int:
        merged = 0
        for i in range(0, len(keys), MERGE_CHUNK):
            with db.write() as conn:
                locked = db.dialect.try_lock_rollup_keys(conn, keys[i : i + MERGE_CHUNK])
                merged += merge(conn, locked)
        return merged

    return run


Merge = Callable[[Database, Sequence[Key]], int]

#: Every table of deltas, with how its keys are merged.
MERGES: dict[Table, Merge] = {
    rollups: lambda db, keys: _merge(db, keys, rollups),
    property_rollups: _merge_with(merge_values),
    number_rollups: _merge_with(merge_keys),
    event_times: _merge_with(merge_times),
}


def settle(db: Database, before: dt.date, *, limit: int = SETTLE_LIMIT) -> int:
    """Merge every key of the days before ``before`` that has several rows, in each rollup
    table (at most ``limit`` keys per table); return keys merged."""
    merged = 0
    for table, merge in MERGES.items():
        with db.read() as conn:
            keys = conn.execute(
                select(table.c.day, table.c.event)
                .where(table.c.day < before)
                .group_by(table.c.day, table.c.event)
                .having(func.count() > 1)
                .limit(limit)
            ).all()
        found = [(day, name) for day, name in keys]
        merged += merge(db, found)
    return merged


def due_keys(
    db: Database,
    *,
    before: dt.date,
    threshold: int = COMPACT_AFTER,
    limit: int = SETTLE_LIMIT,
    table: Table = rollups,
    after_id: int | None = None,
) -> list[Key]:
    """The keys of ``table`` a pass merges: over ``threshold`` rows, or several rows on a day
    before ``before``; the most crowded first, at most ``limit``. With ``after_id``, only keys
    that gained a row of a larger id are looked at (an index range instead of the whole
    table, which the property rollups make large)."""
    rows = func.count()
    stmt = select(table.c.day, table.c.event)
    if after_id is not None:
        recent = select(table.c.day, table.c.event).where(table.c.id > after_id).distinct()
        stmt = stmt.where(tuple_(table.c.day, table.c.event).in_(recent))
    with db.read() as conn:
        found = conn.execute(
            stmt.group_by(table.c.day, table.c.event)
            .having(or_(rows > threshold, (table.c.day < before) & (rows > 1)))
            .order_by(rows.desc(), table.c.day, table.c.event)
            .limit(limit)
        ).all()
    return [(day, name) for day, name in found]


def _last_ids(db: Database) -> dict[str, int]:
    """The largest row id of each rollup table now."""
    with db.read() as conn:
        return {
            table.name: int(
                conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
            )
            for table in MERGES
        }


@dataclass(frozen=True, slots=True)
class PassResult:
    """One compaction pass: keys found due, keys merged, and whether more were left over."""

    due: int
    merged: int
    seconds: float


class Compactor:
    """Runs compaction passes for one process: every ``every_events`` events it wrote, or
    every ``every_seconds``, and only while no other process runs one.

    Thread-safe: writers of one process call :meth:`wrote` from several threads; one of them
    runs the pass, the others go on writing.

    >>> from evana.server._storage import Database, create_schema
    >>> db = Database("sqlite://"); create_schema(db)
    >>> Compactor(db).run().merged
    0
    """

    def __init__(
        self,
        db: Database,
        *,
        every_events: int = PASS_EVERY_EVENTS,
        every_seconds: float = PASS_EVERY_SECONDS,
        threshold: int = COMPACT_AFTER,
        limit: int = SETTLE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
    ) -> None:
        self.db = db
        self.every_events = every_events
        self.every_seconds = every_seconds
        self.threshold = threshold
        self.limit = limit
        self._clock = clock
        self._today = today
        self._turn = threading.Lock()  # one pass at a time in this process
        self._count = threading.Lock()
        self._pending = 0  # events written since the last pass this process ran or skipped
        self._more = False  # the last pass left keys over
        self._last = clock()
        #: Passes this process ran (not counting the turns another process had).
        self.passes = 0
        #: Keys this process merged, over every pass.
        self.merged = 0
        # The largest row id of each table when the last pass began (see _pass).
        self._seen: dict[str, int] = {}
        # Per table, due keys found but not merged yet (see _pass).
        self._backlog: dict[str, list[Key]] = {}

    def wrote(self, events: int) -> PassResult | None:
        """Note ``events`` newly written; run a pass when one is due. None: no pass ran."""
        with self._count:
            self._pending += events
        return self.tick() if self._due() else None

    def _due(self) -> bool:
        if self._pending >= self.every_events:
            return True
        waited = self._clock() - self._last >= self.every_seconds
        return waited and (self._pending > 0 or self._more)

    def tick(self) -> PassResult | None:
        """Run a pass if one is due (a timer's call: after a burst of writes, the last rows
        get merged too). None: none was due, or another process or thread had the turn."""
        return self.run() if self._due() else None

    def run(self) -> PassResult | None:
        """Run a pass now unless another process or thread runs one; None when one does."""
        if not self._turn.acquire(blocking=False):
            return None
        try:
            self._last = self._clock()
            with self._count:
                self._pending = 0
            with self.db.dialect.compactor_turn(self.db.engine) as mine:
                if not mine:
                    self._more = False  # the holder covers every process's rows
                    return None
                return self._pass()
        finally:
            self._turn.release()

    def _keep_months_ahead(self) -> None:
        # A partitioned ``events`` gets each month's partition before its first event; a
        # failure here must not stop the merges (the next full pass tries again).
        if self.db.dialect.name != "postgresql":
            return
        try:
            keep_months_ahead(self.db, self._today())
        except Exception as exc:  # e.g. no right to create tables: the merges go on
            log.warning("msg=partition_upkeep_failed error=%r", f"{type(exc).__name__}: {exc}")

    def _pass(self) -> PassResult:
        start = time.perf_counter()
        before = self._today() - dt.timedelta(days=1)
        # Most passes look only at keys that gained rows since the last one; every
        # FULL_PASS_EVERY-th looks at all (days that became settled since, rows committed late
        # under smaller ids).
        # Keys found due beyond a pass's limit wait in a backlog for the next passes, rather
        # than making the next pass look at every key again: while history is loaded, every
        # pass finds more due keys than it merges, and a look at every key of a large table
        # (the property rollups') costs more with every day stored.
        full = self.passes % FULL_PASS_EVERY == 0
        if full:
            self._keep_months_ahead()
        marks = _last_ids(self.db)
        due = merged = 0
        more = False
        for table, merge in MERGES.items():
            waiting = self._backlog.get(table.name, [])
            if not waiting:
                waiting = due_keys(
                    self.db,
                    before=before,
                    threshold=self.threshold,
                    limit=self.limit * BACKLOG_PASSES,
                    table=table,
                    after_id=None if full else self._seen.get(table.name),
                )
            keys, self._backlog[table.name] = waiting[: self.limit], waiting[self.limit :]
            merged += merge(self.db, keys)
            due += len(keys)
            more = more or bool(self._backlog[table.name])
        self._seen = marks
        result = PassResult(due, merged, time.perf_counter() - start)
        self._more = more
        self.passes += 1
        self.merged += merged
        if due:
            log.info(
                "msg=compacted keys_due=%d keys_merged=%d ms=%.1f",
                result.due,
                result.merged,
                result.seconds * 1000,
            )
        return result
