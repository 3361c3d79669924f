"""Who was active on each day: from the rollups when no filter applies, else from raw events.

Either way the answer is a roaring bitmap of person numbers per day, so every report built on
it (DAU/WAU/MAU, retention, stickiness, lifecycle) is computed once, whichever source fed it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from pyroaring import AbstractBitMap, BitMap
from sqlalchemy import Connection

from evana.insights import Filter
from evana.server._storage import (
    ALL_EVENTS,
    BitmapCache,
    Database,
    PersonDirectory,
    PersonMap,
    PropertyReader,
    RollupReader,
    Wanted,
    load_event_rows,
    read_times,
)

from ._by_property import property_by_day, property_top_events
from ._filters import needs_event_properties, wanted_rows
from ._frame import Frame

__all__ = ["ActivityReader", "PersonReports", "read_activity"]


class ActivityReader:
    """Per-day persons of one event (or any), as of one read transaction and person snapshot."""

    def __init__(
        self,
        conn: Connection,
        db: Database,
        cache: BitmapCache | None,
        persons: Callable[[], PersonMap],
    ) -> None:
        self.conn = conn
        self.dialect = db.dialect
        self.rollups = RollupReader(conn, db.dialect, cache)
        self.properties = PropertyReader(conn, db.dialect, cache)
        self.cache = cache
        self._snapshot = persons
        self._persons: PersonMap | None = None

    @property
    def persons(self) -> PersonMap:
        """The persons as of this read, read when first asked for (in the same snapshot): a
        count of events needs none, and is spared the read of the persons' state."""
        if self._persons is None:
            self._persons = self._snapshot()
        return self._persons

    def by_day(
        self,
        event: str | None,
        start: dt.date | None,
        end: dt.date,
        where: Sequence[Filter] = (),
    ) -> dict[dt.date, AbstractBitMap]:
        """Persons active (on ``event``, where every filter holds) on each day of [start, end]
        that has some; ``start`` None reads from the first day."""
        if not where:
            by_day = self.rollups.users_by_day(event or ALL_EVENTS, start, end)
            return {day: self.persons.translate(bm) for day, bm in by_day.items()}
        found = property_by_day(self, event, start, end, where)
        if found is not None:
            return found
        frame = self.frame(start, end, None if event is None else [event], where)
        return frame.persons_by_day(frame.select(event, where))

    def seen_before(
        self, event: str | None, day: dt.date, where: Sequence[Filter] = ()
    ) -> list[AbstractBitMap]:
        """Persons active (on ``event``, where every filter holds) on some day before ``day``,
        as parts to take together.

        Without filters the parts are the union of the settled days, which the rollups cache
        as one bitmap, and the last days: a report that needs all history before its range
        (who is new) costs about the same however long that history is.
        """
        if day == dt.date.min:
            return []
        if not where:
            parts = self.rollups.users_before(event or ALL_EVENTS, day)
            return [self.persons.translate(part) for part in parts]
        return list(self.by_day(event, None, day - dt.timedelta(days=1), where).values())

    def by_day_of(
        self,
        reads: Sequence[tuple[str | None, dt.date | None]],
        end: dt.date,
        where: Sequence[Filter] = (),
    ) -> list[dict[dt.date, AbstractBitMap]]:
        """:meth:`by_day` of each (event, start), from the rollups in one query."""
        if where:
            return [self.by_day(event, start, end, where) for event, start in reads]
        found = self.rollups.users_by_day_of(
            [(event or ALL_EVENTS, start) for event, start in reads], end
        )
        return [{day: self.persons.translate(bm) for day, bm in by_day.items()} for by_day in found]

    def frame(
        self,
        start: dt.date | None,
        end: dt.date,
        names: Sequence[str] | None,
        where: Sequence[Filter],
        *,
        with_properties: bool = False,
        wanted: Sequence[Wanted] | None = None,
    ) -> Frame:
        """The raw events of [start, end] (of ``names`` when given) as a :class:`Frame`.

        Only rows that may pass ``where`` are read (or those ``wanted`` names, when given).
        """
        if wanted is None and where:
            wanted = wanted_rows([(n, where) for n in names] if names else [(None, where)])
        rows = load_event_rows(
            self.conn,
            self.dialect,
            start,
            end,
            names,
            with_properties=with_properties or needs_event_properties(where),
            wanted=wanted,
        )
        return Frame(rows, self.persons)

    def times_frame(self, start: dt.date, end: dt.date, names: Sequence[str]) -> Frame | None:
        """The events of ``names`` on [start, end] without properties, from event times;
        None when those are not complete for the range (raw events then answer)."""
        rows = read_times(self.conn, start, end, names, self.cache)
        return None if rows is None else Frame(rows, self.persons)

    def top_events(
        self, start: dt.date, end: dt.date, limit: int, where: Sequence[Filter]
    ) -> list[tuple[str, int, int]]:
        """(name, events, distinct persons) of the ``limit`` names with most matching events,
        by count desc then name in code point order."""
        found = property_top_events(self, start, end, limit, where)
        if found is not None:
            return found
        frame = self.frame(start, end, None, where)
        mask = frame.select(None, where)
        codes, pids = frame.rows.codes[mask], frame.pids[mask]
        counts = np.bincount(codes, minlength=len(frame.rows.names))
        ranked = sorted(
            ((frame.rows.names[c], int(n), c) for c, n in enumerate(counts) if n),
            key=lambda item: (-item[1], item[0]),
        )[:limit]
        return [(name, n, len(BitMap(pids[codes == c]))) for name, n, c in ranked]


@contextlib.contextmanager
def read_activity(
    db: Database, cache: BitmapCache | None, persons: PersonDirectory
) -> Iterator[ActivityReader]:
    """A read transaction with the persons as of it: every report counts persons."""
    with db.read() as conn:
        yield ActivityReader(conn, db, cache, functools.partial(persons.snapshot, conn))


class PersonReports:
    """What every report service holds: the database, the bitmap cache and the persons."""

    def __init__(
        self,
        db: Database,
        cache: BitmapCache | None = None,
        persons: PersonDirectory | None = None,
    ) -> None:
        self.db = db
        self.cache = cache if cache is not None else BitmapCache()
        self.persons = persons if persons is not None else PersonDirectory(db)

    def activity(self) -> contextlib.AbstractContextManager[ActivityReader]:
        """A read transaction with the persons as of it: every report counts persons."""
        return read_activity(self.db, self.cache, self.persons)
