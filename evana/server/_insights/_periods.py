"""Calendar arithmetic of every report: UTC days, ISO weeks (Monday) and calendar months."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from evana.errors import InvalidRequestError
from evana.schema import Period

__all__ = [
    "EPOCH",
    "MAX_RANGE_DAYS",
    "check_range",
    "day_number",
    "days",
    "days_before",
    "next_period",
    "period_start",
    "periods_overlapping",
    "periods_within",
]

#: The longest range a report or insight may span.
MAX_RANGE_DAYS = 3660

#: Day 0 of the day numbers (UTC days since 1970-01-01) that raw-event reports work in.
EPOCH = dt.date(1970, 1, 1)


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01.

    >>> day_number(dt.date(1970, 1, 2))
    1
    """
    return (day - EPOCH).days


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


def periods_within(since: dt.date, until: dt.date, period: Period) -> list[dt.date]:
    """Start days of the periods that start within [since, until].

    >>> periods_within(dt.date(2026, 11, 3), dt.date(2026, 11, 20), "week")
    [datetime.date(2026, 11, 9), datetime.date(2026, 11, 16)]
    """
    start: dt.date | None = period_start(since, period)
    if start is not None and start < since:
        start = next_period(start, period)
    out = []
    while start is not None and start <= until:
        out.append(start)
        start = next_period(start, period)
    return out


def periods_overlapping(since: dt.date, until: dt.date, period: Period) -> list[dt.date]:
    """Start days of the periods that overlap [since, until] (the first may start before since).

    >>> periods_overlapping(dt.date(2026, 11, 3), dt.date(2026, 11, 10), "week")
    [datetime.date(2026, 11, 2), datetime.date(2026, 11, 9)]
    """
    out = []
    start: dt.date | None = period_start(since, period)
    while start is not None and start <= until:
        out.append(start)
        start = next_period(start, period)
    return out


def period_spans(since: dt.date, until: dt.date, period: Period) -> list[tuple[dt.date, dt.date]]:
    """(start, last day) of each period that overlaps [since, until]: the start as
    :func:`periods_overlapping` gives it, the last day cut at ``until``.

    >>> period_spans(dt.date(2026, 11, 3), dt.date(2026, 11, 10), "week")[0]
    (datetime.date(2026, 11, 2), datetime.date(2026, 11, 8))
    """
    starts = periods_overlapping(since, until, period)
    ends = [*(s - dt.timedelta(days=1) for s in starts[1:]), until]
    return list(zip(starts, ends, strict=True))


def days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Every day of [start, end]."""
    day = start
    while day <= end:
        yield day
        if day == dt.date.max:
            return
        day += dt.timedelta(days=1)


def days_before(day: dt.date, count: int) -> dt.date:
    """``day`` minus ``count`` days, stopping at the first representable day."""
    try:
        return day - dt.timedelta(days=count)
    except OverflowError:
        return dt.date.min


def check_range(since: dt.date, until: dt.date) -> None:
    """422 unless ``since`` ≤ ``until`` and the range is not absurdly long."""
    if since > until:
        raise InvalidRequestError(f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRequestError(f"the range is over {MAX_RANGE_DAYS} days: narrow since/until")
