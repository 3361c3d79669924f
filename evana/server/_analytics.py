"""Reports from the rollups: DAU/WAU/MAU, top events and retention, as DESIGN.md defines them.

Every distinct count is a union or an intersection of roaring bitmaps of dense user ids, so a
report reads one small row per day (and event) and never the raw events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from pyroaring import AbstractBitMap, BitMap
from sqlalchemy import Connection

from evana.errors import InvalidRequestError
from evana.schema import (
    ActiveUsers,
    Cohort,
    DayValue,
    EventCount,
    Period,
    Retention,
    TopEvents,
)

from ._storage import ALL_EVENTS, BitmapCache, Database, RollupReader

__all__ = [
    "MAX_LIMIT",
    "MAX_PERIODS",
    "MAX_RANGE_DAYS",
    "AnalyticsService",
    "days_before",
    "next_period",
    "period_start",
]

MAX_RANGE_DAYS = 3660
MAX_PERIODS = 400
MAX_LIMIT = 1000
_EMPTY = BitMap()
_WINDOWS = {"dau": 1, "wau": 7, "mau": 30}


def period_start(day: dt.date, period: Period) -> dt.date:
    """The first day of the period holding ``day`` (ISO weeks start on Monday).

    >>> period_start(dt.date(2026, 11, 5), "week"), period_start(dt.date(2026, 11, 5), "month")
    (datetime.date(2026, 11, 2), datetime.date(2026, 11, 1))
    """
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(start: dt.date, period: Period) -> dt.date | None:
    """The first day of the period after the one starting at ``start`` (None past year 9999)."""
    try:
        if period == "day":
            return start + dt.timedelta(days=1)
        if period == "week":
            return start + dt.timedelta(days=7)
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    except (OverflowError, ValueError):
        return None


def _periods_within(since: dt.date, until: dt.date, period: Period) -> list[dt.date]:
    """Start days of the periods that start within [since, until]."""
    start: dt.date | None = period_start(since, period)
    if start is not None and start < since:
        start = next_period(start, period)
    out = []
    while start is not None and start <= until:
        out.append(start)
        start = next_period(start, period)
    return out


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        if day == dt.date.max:
            return
        day += dt.timedelta(days=1)


def days_before(day: dt.date, days: int) -> dt.date:
    """``day`` minus ``days`` days, stopping at the first representable day."""
    try:
        return day - dt.timedelta(days=days)
    except OverflowError:
        return dt.date.min


def _union_between(
    by_day: Mapping[dt.date, AbstractBitMap], start: dt.date, end: dt.date
) -> AbstractBitMap:
    """Users present on any day of [start, end]."""
    parts = [by_day[day] for day in _days(start, end) if day in by_day]
    if not parts:
        return _EMPTY
    return parts[0] if len(parts) == 1 else BitMap.union(*parts)


def check_range(since: dt.date, until: dt.date) -> None:
    """422 unless ``since`` ≤ ``until`` and the range is not absurdly long."""
    if since > until:
        raise InvalidRequestError(f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRequestError(f"the range is over {MAX_RANGE_DAYS} days: narrow since/until")


class AnalyticsService:
    """Answers the stats endpoints from the rollups."""

    def __init__(self, db: Database, cache: BitmapCache | None = None) -> None:
        self.db = db
        self.cache = cache if cache is not None else BitmapCache()

    def _reader(self, conn: Connection) -> RollupReader:
        return RollupReader(conn, self.db.dialect, self.cache)

    def active_users(self, kind: str, since: dt.date, until: dt.date) -> ActiveUsers:
        """DAU (kind ``dau``), WAU or MAU for each day of [since, until]."""
        check_range(since, until)
        window = _WINDOWS[kind]
        first = days_before(since, window - 1)
        with self.db.read() as conn:
            by_day = self._reader(conn).users_by_day(ALL_EVENTS, first, until)
        series = []
        for day in _days(since, until):
            if window == 1:
                users = len(by_day.get(day, _EMPTY))
            else:
                users = len(_union_between(by_day, days_before(day, window - 1), day))
            series.append(DayValue(date=day, users=users))
        return ActiveUsers(since=since, until=until, series=series)

    def top_events(self, since: dt.date, until: dt.date, limit: int) -> TopEvents:
        """Event names by number of events in [since, until], with distinct users."""
        check_range(since, until)
        with self.db.read() as conn:
            reader = self._reader(conn)
            counts = reader.top_events(since, until, limit)
            users = reader.users_of_events([name for name, _ in counts], since, until)
        return TopEvents(
            since=since,
            until=until,
            events=[
                EventCount(event=name, count=count, users=len(users.get(name, _EMPTY)))
                for name, count in counts
            ],
        )

    def retention(
        self,
        since: dt.date,
        until: dt.date,
        period: Period,
        periods: int,
        start_event: str | None = None,
        return_event: str | None = None,
    ) -> Retention:
        """First-time retention: cohorts by the period of each user's first (start) event.

        ``retained[k]`` counts cohort users active (on ``return_event`` when given) in period
        cohort+k; ``None`` when that period starts after ``until``. Events after ``until`` do
        not count.
        """
        check_range(since, until)
        starts = _periods_within(since, until, period)
        if not starts:
            return Retention(period=period, since=since, until=until, cohorts=[])
        with self.db.read() as conn:
            reader = self._reader(conn)
            # A user's first event may lie long before `since`: read the basis from the start.
            basis = reader.users_by_day(start_event or ALL_EVENTS, None, until)
            if start_event is None and return_event is None:
                activity = basis
            else:
                activity = reader.users_by_day(return_event or ALL_EVENTS, starts[0], until)

        before = [bm for day, bm in basis.items() if day < starts[0]]
        seen = BitMap.union(*before) if before else BitMap()
        ends = [*(days_before(start, 1) for start in starts[1:]), until]
        cohorts_users: list[AbstractBitMap] = []
        active: list[AbstractBitMap] = []
        for start, end in zip(starts, ends, strict=True):
            arrived = _union_between(basis, start, end)
            cohorts_users.append(arrived - seen)
            seen |= arrived
            active.append(_union_between(activity, start, end))

        cohorts = []
        for i, (start, members) in enumerate(zip(starts, cohorts_users, strict=True)):
            retained: list[int | None] = [
                members.intersection_cardinality(active[i + k]) if i + k < len(starts) else None
                for k in range(periods)
            ]
            cohorts.append(Cohort(cohort=start, size=len(members), retained=retained))
        return Retention(period=period, since=since, until=until, cohorts=cohorts)
