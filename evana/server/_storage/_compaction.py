"""Compaction: merging a rollup key's delta rows into one, so reports union few rows.

Two triggers: a key touched by a write that has gathered more than ``COMPACT_AFTER`` rows, and,
every so often, every key of a day that is over (before yesterday) with more than one row —
finished days end up as one row per key. A merge takes its key's rewrite lock without waiting
(a key another merge or an erasure is rewriting is skipped: it is merged later) and reads the
rows only once it holds it (see ``Dialect.lock_rollup_keys``); writers, which only insert,
never wait for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from pyroaring import BitMap
from sqlalchemy import Connection, delete, func, insert, select

from ._database import Database
from ._tables import rollups

__all__ = ["COMPACT_AFTER", "compact", "settle"]

#: Rows a key may gather before a compaction merges them: reports union at most this many.
COMPACT_AFTER = 8
#: Keys merged per settle pass (bounds the time a write spends on housekeeping).
SETTLE_LIMIT = 500

Key = tuple[dt.date, str]


def _merge_all(db: Database, keys: Sequence[Key]) -> None:
    """Merge each key's rows: on SQLite in one transaction (its write lock already excludes
    every other rewrite, and one commit is one fsync instead of one per key); elsewhere one
    transaction per key, so that no key's lock is held while others are merged."""
    if db.dialect.single_writer:
        with db.write() as conn:
            for day, name in keys:
                _merge_in(db, conn, day, name)
        return
    for day, name in keys:
        with db.write() as conn:
            _merge_in(db, conn, day, name)


def _merge_in(db: Database, conn: Connection, day: dt.date, name: str) -> None:
    if not db.dialect.try_lock_rollup_key(conn, (day, name)):
        return
    # A statement of its own, after the lock: it sees the rows of whoever held it before.
    stmt = select(rollups.c.id, rollups.c.events, rollups.c.users).where(
        rollups.c.day == day, rollups.c.event == name
    )
    rows = conn.execute(stmt).all()
    if len(rows) < 2:
        return
    merged = BitMap.union(*(BitMap.deserialize(r.users) for r in rows))
    merged.run_optimize()
    conn.execute(delete(rollups).where(rollups.c.id.in_([r.id for r in rows])))
    conn.execute(
        insert(rollups).values(
            day=day, event=name, events=sum(r.events for r in rows), users=merged.serialize()
        )
    )


def compact(db: Database, keys: Iterable[Key], *, threshold: int = COMPACT_AFTER) -> int:
    """Merge the rows of every given key that has more than ``threshold``; return keys merged."""
    wanted = set(keys)
    if not wanted:
        return 0
    days = sorted({day for day, _ in wanted})
    with db.read() as conn:
        crowded = [
            (day, name)
            for day, name in conn.execute(
                select(rollups.c.day, rollups.c.event)
                .where(rollups.c.day.in_(days))
                .group_by(rollups.c.day, rollups.c.event)
                .having(func.count() > threshold)
            )
            if (day, name) in wanted
        ]
    _merge_all(db, sorted(crowded))
    return len(crowded)


def settle(db: Database, before: dt.date, *, limit: int = SETTLE_LIMIT) -> int:
    """Merge every key of the days before ``before`` that has several rows; return keys merged."""
    with db.read() as conn:
        keys = conn.execute(
            select(rollups.c.day, rollups.c.event)
            .where(rollups.c.day < before)
            .group_by(rollups.c.day, rollups.c.event)
            .having(func.count() > 1)
            .limit(limit)
        ).all()
    _merge_all(db, [(day, name) for day, name in keys])
    return len(keys)
