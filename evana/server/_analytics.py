"""Reports from the rollups: DAU/WAU/MAU, top events and retention, as DESIGN.md defines them.

Every distinct count is a union or an intersection of roaring bitmaps of person numbers: a
report reads one small row per day (and event), maps its users to persons through the current
:class:`PersonMap`, and never reads the raw events — unless a ``where`` filter asks about
properties, which only the raw events hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal

from pyroaring import AbstractBitMap, BitMap

from evana.insights import Filter
from evana.schema import (
    ActiveUsers,
    Cohort,
    DayValue,
    EventCount,
    Period,
    Retention,
    TopEvents,
)

from ._insights import (
    MAX_RANGE_DAYS,
    PersonReports,
    check_range,
    days_before,
    next_period,
    period_start,
    periods_within,
)
from ._insights import days as _days

__all__ = [
    "MAX_LIMIT",
    "MAX_PERIODS",
    "MAX_RANGE_DAYS",
    "AnalyticsService",
    "RetentionType",
    "check_range",
    "days_before",
    "next_period",
    "period_start",
]

MAX_PERIODS = 400
MAX_LIMIT = 1000
_EMPTY = BitMap()
_WINDOWS = {"dau": 1, "wau": 7, "mau": 30}
RetentionType = Literal["first_time", "recurring"]


def _union_between(
    by_day: Mapping[dt.date, AbstractBitMap], start: dt.date, end: dt.date
) -> AbstractBitMap:
    """Users present on any day of [start, end]."""
    parts = [by_day[day] for day in _days(start, end) if day in by_day]
    if not parts:
        return _EMPTY
    return parts[0] if len(parts) == 1 else BitMap.union(*parts)


def _window_counts(bitmaps: Sequence[AbstractBitMap], window: int) -> list[int]:
    """For each index, the distinct members of the ``window`` bitmaps ending there (fewer at
    the start of the sequence).

    Unioning each window anew costs ``window`` unions a day. Cut the sequence into blocks of
    ``window``: every window is a suffix of one block and a prefix of the next (or a prefix of
    one), so running unions through each block, forwards and backwards, and one union
    cardinality a day give the same counts in about three bitmap operations a day, whatever
    the window.

    >>> bms = [BitMap([1]), BitMap([2]), BitMap([1]), BitMap([3]), BitMap()]
    >>> _window_counts(bms, 2)
    [1, 2, 2, 2, 1]
    """
    if window == 1:
        return [len(bm) for bm in bitmaps]
    prefix: list[AbstractBitMap] = []
    for i, bm in enumerate(bitmaps):
        prefix.append(bm if i % window == 0 else prefix[i - 1] | bm)
    suffix: list[AbstractBitMap] = list(bitmaps)
    for i in range(len(bitmaps) - 2, -1, -1):
        if (i + 1) % window:
            suffix[i] = bitmaps[i] | suffix[i + 1]
    counts = []
    for end in range(len(bitmaps)):
        start = max(0, end - window + 1)
        if start % window == 0:  # the window lies in one block
            counts.append(len(prefix[end]))
        else:
            counts.append(suffix[start].union_cardinality(prefix[end]))
    return counts


class AnalyticsService(PersonReports):
    """Answers the stats endpoints from the rollups (from raw events when ``where`` filters)."""

    def active_users(
        self, kind: str, since: dt.date, until: dt.date, where: Sequence[Filter] = ()
    ) -> ActiveUsers:
        """DAU (kind ``dau``), WAU or MAU for each day of [since, until]."""
        check_range(since, until)
        window = _WINDOWS[kind]
        first = days_before(since, window - 1)
        with self.activity() as reader:
            by_day = reader.by_day(None, first, until, where)
        counts = _window_counts([by_day.get(day, _EMPTY) for day in _days(first, until)], window)
        # The last days' counts are [since, until]'s; the ones before are the lead-in.
        wanted = list(_days(since, until))
        series = [
            DayValue(date=day, users=users)
            for day, users in zip(wanted, counts[len(counts) - len(wanted) :], strict=True)
        ]
        return ActiveUsers(since=since, until=until, series=series)

    def top_events(
        self, since: dt.date, until: dt.date, limit: int, where: Sequence[Filter] = ()
    ) -> TopEvents:
        """Event names by number of events in [since, until], with distinct persons."""
        check_range(since, until)
        with self.activity() as reader:
            if where:
                rows = reader.top_events(since, until, limit, where)
            else:
                counts = reader.rollups.top_events(since, until, limit)
                users = reader.rollups.users_of_events([n for n, _ in counts], since, until)
                rows = [
                    (name, count, len(reader.persons.translate(users.get(name, _EMPTY))))
                    for name, count in counts
                ]
        return TopEvents(
            since=since,
            until=until,
            events=[EventCount(event=name, count=n, users=u) for name, n, u in rows],
        )

    def retention(
        self,
        since: dt.date,
        until: dt.date,
        period: Period,
        periods: int,
        start_event: str | None = None,
        return_event: str | None = None,
        *,
        type: RetentionType = "first_time",
        cumulative: bool = False,
        where: Sequence[Filter] = (),
    ) -> Retention:
        """Cohorts of persons by period, and how many come back.

        First-time: a person's cohort is the period of their first (start) event ever.
        Recurring: a person is in the cohort of every period in which they did the start
        event. ``retained[k]`` counts cohort persons active (on ``return_event`` when given) in
        period cohort+k — with ``cumulative``, in any period from cohort+k to until's; ``None``
        when that period starts after ``until``. Events after ``until`` do not count; with
        ``where``, only matching events exist.
        """
        check_range(since, until)
        starts = periods_within(since, until, period)
        if not starts:
            return Retention(period=period, since=since, until=until, cohorts=[])
        with self.activity() as reader:
            if start_event is None and return_event is None:
                basis = activity = reader.by_day(None, starts[0], until, where)
            else:
                basis, activity = reader.by_day_of(
                    [(start_event, starts[0]), (return_event, starts[0])], until, where
                )
            # A person's first event may lie long before `since`: who did it before, at once.
            before = (
                reader.seen_before(start_event, starts[0], where) if type == "first_time" else []
            )

        ends = [*(days_before(start, 1) for start in starts[1:]), until]
        active = [_union_between(activity, s, e) for s, e in zip(starts, ends, strict=True)]
        if type == "recurring":
            cohorts_users = [_union_between(basis, s, e) for s, e in zip(starts, ends, strict=True)]
        else:
            cohorts_users = _first_time_cohorts(basis, starts, ends, before)
        if cumulative:
            # Suffix unions: later[j] = persons active in period j or any later one.
            later: list[AbstractBitMap] = [BitMap() for _ in starts]
            running = BitMap()
            for j in range(len(starts) - 1, -1, -1):
                running = running | active[j]
                later[j] = running
            active = later

        cohorts = []
        for i, (start, members) in enumerate(zip(starts, cohorts_users, strict=True)):
            retained: list[int | None] = [
                members.intersection_cardinality(active[i + k]) if i + k < len(starts) else None
                for k in range(periods)
            ]
            cohorts.append(Cohort(cohort=start, size=len(members), retained=retained))
        return Retention(period=period, since=since, until=until, cohorts=cohorts)


def _first_time_cohorts(
    basis: Mapping[dt.date, AbstractBitMap],
    starts: list[dt.date],
    ends: list[dt.date],
    before: Sequence[AbstractBitMap],
) -> list[AbstractBitMap]:
    """Each period's persons whose first basis event ever falls in it (``before``: parts of
    those whose first one was earlier, never copied: they hold all history's persons)."""
    seen = BitMap()  # persons of the earlier periods
    out: list[AbstractBitMap] = []
    for start, end in zip(starts, ends, strict=True):
        arrived = _union_between(basis, start, end)
        out.append(arrived.difference(*before, seen))
        seen |= arrived
    return out
