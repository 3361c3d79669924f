"""Stickiness: how many persons were active on exactly k days of the range.

>>> import datetime as dt
>>> from pyroaring import BitMap
>>> d, e, f = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)
>>> rows = stickiness(d, f, {d: BitMap([1, 2]), e: BitMap([1])})
>>> [(r.days_active, r.users) for r in rows.days]
[(1, 1), (2, 1), (3, 0)]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
from pyroaring import AbstractBitMap

from evana.insights import Stickiness, StickinessRow

from ._periods import days

__all__ = ["stickiness"]


def stickiness(
    since: dt.date, until: dt.date, by_day: Mapping[dt.date, AbstractBitMap]
) -> Stickiness:
    """For k = 1 … days in [since, until], the persons active on exactly k of them."""
    span = (until - since).days + 1
    parts = [
        np.frombuffer(bm.to_array(), dtype=np.uint32)
        for day in days(since, until)
        if (bm := by_day.get(day)) is not None and bm
    ]
    histogram = np.zeros(span + 1, dtype=np.int64)
    if parts:
        _, per_person = np.unique(np.concatenate(parts), return_counts=True)
        histogram += np.bincount(per_person, minlength=span + 1)[: span + 1]
    return Stickiness(
        since=since,
        until=until,
        days=[StickinessRow(days_active=k, users=int(histogram[k])) for k in range(1, span + 1)],
    )
