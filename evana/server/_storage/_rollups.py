"""Rollup deltas: per (day, event) counts and roaring bitmaps of users, appended and read.

A write appends one row per key it touched, built only from the events it newly inserted; a
report unions a key's rows (``_compaction`` keeps them few). Bitmaps are in the portable roaring
format (``BitMap.serialize``), so other tools can read them too.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pyroaring import AbstractBitMap, BitMap, FrozenBitMap
from sqlalchemy import ColumnElement, Connection, Select, Table, and_, bindparam, func, or_, select

from ._bitmaps import BitmapCache, BitmapSource, load_bitmaps
from ._tables import ALL_EVENTS, PERSON_EVENTS, rollups

__all__ = [
    "Delta",
    "Key",
    "RollupReader",
    "RollupRow",
    "build_deltas",
    "counted",
    "inserted_events",
    "write_deltas",
]

Key = tuple[dt.date, str]

#: A trend's count of events per day, built once: SQLAlchemy then keys its compiled form
#: without walking the statement again on each call.
_EVENTS_BY_DAY = (
    select(rollups.c.day, func.sum(rollups.c.events))
    .where(
        rollups.c.event == bindparam("event"),
        rollups.c.day.between(bindparam("start"), bindparam("end")),
    )
    .group_by(rollups.c.day)
)

#: A rollup row as appended: (day, event, events, users as a serialized roaring bitmap).
RollupRow = tuple[dt.date, str, int, bytes]


class RollupStore(BitmapSource, Protocol):
    """What the rollups need of a database dialect (``Dialect``), named here so that this module
    does not import the dialects (which import it)."""

    def append_rollups(
        self, conn: Connection, rows: Sequence[RollupRow], table: Table = rollups
    ) -> None:
        """Insert rollup rows (day, event, events, users bitmap) into ``table`` (``rollups``
        or ``property_rollups``); ids come from the table."""
        ...

    def by_code_point(self, column: ColumnElement[str]) -> ColumnElement[str]:
        """``column`` for an ORDER BY by code point, whatever the database's locale."""
        ...

    def sorted_ids(self, conn: Connection, table: Table, *where: ColumnElement[bool]) -> list[int]:
        """The ids of ``table``'s rows that match ``where``, ascending."""
        ...


class Delta:
    """Newly inserted events of one (day, event) key: how many, and whose."""

    __slots__ = ("events", "uids")

    def __init__(self) -> None:
        self.events = 0
        self.uids: list[int] = []


def build_deltas(rows: Iterable[tuple[dt.date, str, int]]) -> dict[Key, Delta]:
    """Group (day, event, uid) of newly inserted events by key, plus each day's every-event key.

    A person operation (``PERSON_EVENTS``) is not activity: it gets its own key, which counts
    what was inserted but is never written (:func:`write_deltas` skips it), and no share of
    the every-event key.
    """
    out: defaultdict[Key, Delta] = defaultdict(Delta)
    for day, name, uid in rows:
        keys = ((day, name),) if name in PERSON_EVENTS else ((day, ALL_EVENTS), (day, name))
        for key in keys:
            delta = out[key]
            delta.events += 1
            delta.uids.append(uid)
    return out


def counted(deltas: dict[Key, Delta]) -> dict[Key, Delta]:
    """The deltas that go into rollups (person operations' keys left out)."""
    return {key: delta for key, delta in deltas.items() if key[1] not in PERSON_EVENTS}


def inserted_events(deltas: dict[Key, Delta]) -> int:
    """How many events the deltas were built from."""
    return sum(
        delta.events
        for (_, name), delta in deltas.items()
        if name == ALL_EVENTS or name in PERSON_EVENTS
    )


def write_deltas(
    conn: Connection, dialect: RollupStore, deltas: dict[Key, Delta], table: Table = rollups
) -> None:
    """Append one rollup row per key to ``table`` (person operations' keys are skipped: see
    :func:`build_deltas`)."""
    dialect.append_rollups(
        conn,
        [
            (day, name, delta.events, BitMap(delta.uids).serialize())
            for (day, name), delta in sorted(counted(deltas).items())
        ],
        table,
    )


class RollupReader:
    """Reads of the rollups that reports are made from, within one read transaction."""

    def __init__(
        self,
        conn: Connection,
        dialect: RollupStore,
        cache: BitmapCache | None = None,
        table: Table = rollups,
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.cache = cache
        self.table = table

    def bitmaps_by_key(self, rows: Iterable[tuple[int, dt.date, str]]) -> dict[Key, AbstractBitMap]:
        """The union of the bitmaps of (id, day, event) rows per key; ``rows`` must hold every
        row of each key they name."""
        return self._bitmaps_of(rows, "key")

    def _bitmaps_by(self, stmt: Select[Any], by: str) -> dict[Any, AbstractBitMap]:
        """:meth:`_bitmaps_of` the rows of a statement."""
        return self._bitmaps_of(self.conn.execute(stmt), by)

    def _bitmaps_of(
        self, found: Iterable[tuple[int, dt.date, str]], by: str
    ) -> dict[Any, AbstractBitMap]:
        """Union the bitmaps of (id, day, event) rows per day, per event or per (day, event)
        key (``by``: "day", "event" or "key").

        A group of many days (per event) is the union of its settled days, cached under their
        row ids, and of its last two days, which writes and compaction still change: a report
        asked again unions two or three bitmaps instead of one a day.
        """
        groups: defaultdict[Any, list[tuple[int, Key]]] = defaultdict(list)
        for row_id, day, name in found:
            key = (day, name)
            groups[day if by == "day" else name if by == "event" else key].append((row_id, key))
        cache = self.cache
        # Per group: its settled row ids (sorted, the union's cache key), the same as a set, and
        # their cached union if there is one.
        plans: dict[Any, tuple[tuple[int, ...], frozenset[int], FrozenBitMap | None]] = {}
        needed: list[tuple[int, Key]] = []
        for group, rows in groups.items():
            old = _settled(rows) if cache is not None else ()
            base = cache.get_union(old) if cache is not None and old else None
            skip = frozenset(old)
            plans[group] = (old, skip, base)
            # All of a key's rows or none, as load_bitmaps needs: they share a day, and a day
            # is settled or not.
            needed += rows if base is None else [row for row in rows if row[0] not in skip]
        bitmaps = load_bitmaps(self.conn, self.dialect, needed, cache)
        out: dict[Any, AbstractBitMap] = {}
        for group, rows in groups.items():
            old, skip, base = plans[group]
            if old and base is None and cache is not None:
                base = FrozenBitMap(_union([bitmaps[row_id] for row_id in old]))
                cache.put_union(old, base, base.__sizeof__())
            rest: list[AbstractBitMap] = [bitmaps[i] for i, _ in rows if i not in skip]
            out[group] = _union(rest if base is None else [base, *rest])
        return out

    def users_by_day(
        self, event: str, start: dt.date | None, end: dt.date
    ) -> dict[dt.date, AbstractBitMap]:
        """Users of ``event`` (``ALL_EVENTS``: any) on each day of [start, end] that has some."""
        return self.users_by_day_of([(event, start)], end)[0]

    def users_by_day_of(
        self, reads: Sequence[tuple[str, dt.date | None]], end: dt.date
    ) -> list[dict[dt.date, AbstractBitMap]]:
        """:meth:`users_by_day` of each (event, start), in one query: a report that needs two
        events (retention's start and return events) waits for the database once."""
        earliest: dict[str, dt.date | None] = {}
        for event, start in reads:
            known = earliest.get(event, start)
            earliest[event] = None if start is None or known is None else min(start, known)
        wanted = []
        for event, start in earliest.items():
            cond = rollups.c.event == event
            wanted.append(cond if start is None else and_(cond, rollups.c.day >= start))
        stmt = select(rollups.c.id, rollups.c.day, rollups.c.event).where(
            rollups.c.day <= end, or_(*wanted)
        )
        found = self._bitmaps_by(stmt, "key")
        out = []
        for event, start in reads:
            by_day: dict[dt.date, AbstractBitMap] = {}
            for (day, name), bitmap in found.items():
                if name == event and (start is None or day >= start):
                    by_day[day] = bitmap
            out.append(dict(sorted(by_day.items())))
        return out

    def event_names(self, start: dt.date | None, end: dt.date) -> list[str]:
        """The event names counted on some day of [start, end] (``start`` None: from the
        first day), in code point order."""
        stmt = (
            select(self.table.c.event)
            .distinct()
            .where(self.table.c.day <= end, self.table.c.event != ALL_EVENTS)
        )
        if start is not None:
            stmt = stmt.where(self.table.c.day >= start)
        return sorted(name for (name,) in self.conn.execute(stmt))

    def top_events(self, start: dt.date, end: dt.date, limit: int) -> list[tuple[str, int]]:
        """The ``limit`` event names with most events in [start, end], by count desc then name.

        Names of equal counts come in code point order on every database, so that ``limit``
        cuts the same list everywhere.
        """
        total = func.sum(rollups.c.events)
        stmt = (
            select(rollups.c.event, total)
            .where(rollups.c.day.between(start, end), rollups.c.event != ALL_EVENTS)
            .group_by(rollups.c.event)
            .order_by(total.desc(), self.dialect.by_code_point(rollups.c.event))
            .limit(limit)
        )
        return [(name, int(count)) for name, count in self.conn.execute(stmt)]

    def events_by_day(self, event: str, start: dt.date, end: dt.date) -> dict[dt.date, int]:
        """Events of ``event`` (``ALL_EVENTS``: any) on each day of [start, end] that has some."""
        rows = self.conn.execute(_EVENTS_BY_DAY, {"event": event, "start": start, "end": end})
        return {day: int(count) for day, count in rows}

    def users_of_events(
        self, names: Sequence[str], start: dt.date, end: dt.date
    ) -> dict[str, AbstractBitMap]:
        """Distinct users of each event name over [start, end]."""
        if not names:
            return {}
        stmt = select(rollups.c.id, rollups.c.day, rollups.c.event).where(
            rollups.c.day.between(start, end), rollups.c.event.in_(names)
        )
        return self._bitmaps_by(stmt, "event")

    def users_before(self, event: str, day: dt.date) -> list[AbstractBitMap]:
        """Users of ``event`` (``ALL_EVENTS``: any) on some day before ``day``, as parts to
        take together (a union would copy the largest, all history's users, at every call).

        The days three or more before it change no more (but for an erasure or a late event):
        their union is cached under their row ids, read as one array, so a warm call costs the
        same however many days are stored; the last two days are read as they are.
        """
        last = day - dt.timedelta(days=1)
        if day <= dt.date.min + dt.timedelta(days=3):  # no day three before it
            found = self.users_of_events([event], dt.date.min, last).get(event)
            return [] if found is None else [found]
        settled = day - dt.timedelta(days=3)
        where = (rollups.c.event == event, rollups.c.day <= settled)
        ids = tuple(self.dialect.sorted_ids(self.conn, rollups, *where))
        base = self.cache.get_union(ids) if self.cache is not None and ids else None
        if base is None and ids:
            rows = self.conn.execute(select(rollups.c.id, rollups.c.day).where(*where)).all()
            bitmaps = load_bitmaps(
                self.conn, self.dialect, [(i, (d, event)) for i, d in rows], self.cache
            )
            base = FrozenBitMap().union(*bitmaps.values())
            if self.cache is not None:  # under the ids it was made of (a write may have come)
                self.cache.put_union(tuple(sorted(bitmaps)), base, base.__sizeof__())
        recent = self.users_of_events([event], settled + dt.timedelta(days=1), last)
        return [part for part in (base, recent.get(event)) if part is not None]


def _settled(rows: list[tuple[int, Key]]) -> tuple[int, ...]:
    """The sorted ids of the rows dated two days or more before the group's last day, when
    they are several (a union worth keeping)."""
    if len(rows) < 3:  # several settled rows and a last day's
        return ()
    last = max(day for _, (day, _) in rows)
    old = tuple(sorted(row_id for row_id, (day, _) in rows if (last - day).days >= 2))
    return old if len(old) > 1 else ()


def _union(bitmaps: list[AbstractBitMap]) -> AbstractBitMap:
    # Cached bitmaps are frozen: callers get a new object or a frozen one, never a shared mutable.
    return bitmaps[0] if len(bitmaps) == 1 else BitMap.union(*bitmaps)
