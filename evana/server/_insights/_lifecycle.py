"""Lifecycle: per period, the persons who are new, returning, resurrecting, or gone dormant.

>>> import datetime as dt
>>> from pyroaring import BitMap
>>> d = lambda n: dt.date(2026, 11, n)
>>> by_day = {d(1): BitMap([1]), d(2): BitMap([1, 2]), d(4): BitMap([1, 2])}
>>> [(p.date.day, p.new, p.returning, p.resurrecting, p.dormant)
...  for p in lifecycle(d(2), d(4), "day", by_day).periods]
[(2, 1, 1, 0, 0), (3, 0, 0, 0, 2), (4, 0, 0, 2, 0)]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyroaring import AbstractBitMap, BitMap

from evana.insights import Lifecycle, LifecyclePeriod
from evana.schema import Period

from ._periods import days, days_before, period_start, periods_within

__all__ = ["history_needed", "lifecycle"]


def _active(
    by_day: Mapping[dt.date, AbstractBitMap], start: dt.date, end: dt.date
) -> AbstractBitMap:
    parts = [bm for day in days(start, end) if (bm := by_day.get(day)) is not None]
    return BitMap.union(*parts) if parts else BitMap()


def history_needed(since: dt.date, until: dt.date, period: Period) -> tuple[dt.date, dt.date]:
    """(the first period's start, the first day whose activity :func:`lifecycle` needs day by
    day: the start of the period before it); activity before that counts only as a whole."""
    starts = periods_within(since, until, period)
    first = starts[0] if starts else since
    return first, period_start(days_before(first, 1), period) if first > dt.date.min else first


def lifecycle(
    since: dt.date,
    until: dt.date,
    period: Period,
    by_day: Mapping[dt.date, AbstractBitMap],
    seen: Sequence[AbstractBitMap] | None = None,
) -> Lifecycle:
    """Each period starting in [since, until], from the persons active per day and those
    ``seen`` active before the first period, in parts ("new" means first active ever).
    Without ``seen``, ``by_day`` holds all history up to ``until``; with it, from the day
    :func:`history_needed` names.

    *new*: first activity ever in the period; *returning*: active in it and in the one
    before, not new; *resurrecting*: active in it, not in the one before, active some time
    before; *dormant*: active in the one before, not in it.
    """
    starts = periods_within(since, until, period)
    if not starts:
        return Lifecycle(period=period, since=since, until=until, periods=[])
    first = starts[0]
    previous_start = period_start(days_before(first, 1), period)
    previous = (
        _active(by_day, previous_start, days_before(first, 1)) if first > dt.date.min else BitMap()
    )
    if seen is None:
        seen = [bm for day, bm in by_day.items() if day < first]
    earlier = BitMap()  # persons active in the periods before this one (all history's in seen)
    ends = [*(days_before(start, 1) for start in starts[1:]), until]
    out = []
    for start, end in zip(starts, ends, strict=True):
        active = _active(by_day, start, end)
        new = active.difference(*seen, earlier)
        returning = (active & previous) - new
        resurrecting = active - previous - new
        out.append(
            LifecyclePeriod(
                date=start,
                new=len(new),
                returning=len(returning),
                resurrecting=len(resurrecting),
                dormant=len(previous - active),
            )
        )
        earlier |= active
        previous = active
    return Lifecycle(period=period, since=since, until=until, periods=out)
