"""Trends: per interval, a math over the events of each series, optionally broken down.

Worked example (two purchases on Monday 2 Nov 2026, one on Wednesday; weekly sum of amount):

>>> import numpy as np
>>> from evana.insights import TrendSeries, TrendsQuery
>>> from evana.server._storage import EventRows, PersonMap
>>> day = 86_400_000_000 * 20_759  # 2026-11-02, a Monday, in µs since 1970
>>> rows = EventRows(
...     uids=np.array([1, 2, 1], dtype=np.uint32),
...     micros=np.array([day, day + 1, day + 2 * 86_400_000_000]),
...     codes=np.array([0, 0, 0], dtype=np.int32),
...     names=["buy"],
...     properties=[{"amount": 5}, {"amount": 2.5}, {"amount": "x"}],
... )
>>> query = TrendsQuery(since="2026-11-02", until="2026-11-04", interval="week",
...     series=[TrendSeries(event="buy", math="sum", property="amount")])
>>> result = compute_trends(query, Frame(rows, PersonMap())).results[0]
>>> [(p.date.isoformat(), p.value) for p in result.points], result.total
([('2026-11-02', 7.5)], 7.5)
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from pyroaring import BitMap

from evana.insights import TrendResult, Trends, TrendSeries, TrendsQuery
from evana.server._storage import ALL_EVENTS

from ._frame import Frame
from ._periods import day_number, period_spans, periods_overlapping

if TYPE_CHECKING:
    from ._activity import ActivityReader
from ._values import PERSON_PREFIX, breakdown_text, is_number

__all__ = [
    "OTHER",
    "compute_trends",
    "from_rollups",
    "rank_key",
    "rollup_trends",
    "trend_columns",
]

#: The breakdown value of the events whose value is not among the kept ones.
OTHER = "$other"

Number = int | float


def trend_columns(query: TrendsQuery) -> tuple[list[str] | None, bool]:
    """Which event names to load (None: all) and whether event properties are read."""
    names: list[str] | None = []
    reads = query.breakdown is not None and not query.breakdown.startswith(PERSON_PREFIX)
    for series in query.series:
        if series.event is None:
            names = None
        elif names is not None:
            names.append(series.event)
        keys = [f.key for f in series.where]
        if series.property is not None:
            keys.append(series.property)
        reads = reads or any(not key.startswith(PERSON_PREFIX) for key in keys)
    return names, reads


def from_rollups(query: TrendsQuery) -> bool:
    """Whether the rollups answer the query alone: event counts and distinct persons of whole
    event names (no filter, breakdown or property), as the reports are answered."""
    return query.breakdown is None and all(
        s.math in ("total", "users") and not s.where for s in query.series
    )


def rollup_trends(query: TrendsQuery, reader: ActivityReader) -> Trends:
    """A :func:`from_rollups` query from per-day counts and bitmaps: never a raw event read."""
    spans = period_spans(query.since, query.until, query.interval)
    results = []
    for number, series in enumerate(query.series):
        event = series.event if series.event is not None else ALL_EVENTS
        if series.math == "total":
            counts = reader.rollups.events_by_day(event, query.since, query.until)
            values = [
                sum(n for day, n in counts.items() if max(start, query.since) <= day <= end)
                for start, end in spans
            ]
            total: int = sum(counts.values())
        else:
            by_day = reader.by_day(
                event if series.event is not None else None, query.since, query.until
            )
            buckets = [
                [bm for day, bm in by_day.items() if max(start, query.since) <= day <= end]
                for start, end in spans
            ]
            values = [len(BitMap.union(*parts)) if parts else 0 for parts in buckets]
            total = len(BitMap.union(*by_day.values())) if by_day else 0
        results.append(
            TrendResult.model_validate(
                {
                    "series": number,
                    "event": series.event,
                    "math": series.math,
                    "breakdown": None,
                    "points": [
                        {"date": start, "value": value}
                        for (start, _), value in zip(spans, values, strict=True)
                    ],
                    "total": total,
                }
            )
        )
    return Trends(interval=query.interval, since=query.since, until=query.until, results=results)


def _percentile(values: list[Number], p: int) -> Number:
    """Nearest rank: the value at rank ⌈p/100·n⌉ of the sorted values."""
    ordered = sorted(values)
    rank = -(-p * len(ordered) // 100)
    return ordered[max(rank, 1) - 1]


def _sum(values: list[Number]) -> Number:
    if all(isinstance(v, int) for v in values):
        return sum(values)
    return math.fsum(values)


def _math(series: TrendSeries, rows: np.ndarray, frame: Frame, values: list[Any] | None) -> Any:
    """The series' math over some rows; an empty set gives 0 (total, users, sum) or None."""
    if series.math == "total":
        return len(rows)
    if series.math == "users":
        return len(np.unique(frame.pids[rows]))
    assert values is not None
    numbers = [v for i in rows.tolist() if is_number(v := values[i])]
    if series.math == "sum":
        return _sum(numbers)
    if not numbers:
        return None
    if series.math == "avg":
        total = _sum(numbers)
        return total / len(numbers)
    if series.math == "min":
        return min(numbers)
    if series.math == "max":
        return max(numbers)
    rank = 50 if series.math == "median" else int(series.math[1:])
    return _percentile(numbers, rank)


def rank_key(item: tuple[str | None, Any]) -> tuple[Any, ...]:
    """Largest total first (a null total last), ties by value in code point order, null last."""
    text, total = item
    return (total is None, -total if total is not None else 0, text is None, text or "")


class _Series:
    """One series' rows and values, turned into results (one per breakdown value)."""

    def __init__(
        self,
        number: int,
        series: TrendSeries,
        frame: Frame,
        bucket: np.ndarray,
        starts: list[dt.date],
    ) -> None:
        self.number, self.series, self.frame = number, series, frame
        self.bucket, self.starts = bucket, starts
        self.values = frame.values(series.property) if series.property is not None else None

    def math(self, rows: np.ndarray) -> Any:
        return _math(self.series, rows, self.frame, self.values)

    def result(self, label: str | None, rows: np.ndarray, total: Any) -> TrendResult:
        rows = rows[np.argsort(self.bucket[rows], kind="stable")]
        cuts = np.searchsorted(self.bucket[rows], np.arange(len(self.starts) + 1), side="left")
        points = [
            {"date": start, "value": self.math(rows[cuts[b] : cuts[b + 1]])}
            for b, start in enumerate(self.starts)
        ]
        return TrendResult.model_validate(
            {
                "series": self.number,
                "event": self.series.event,
                "math": self.series.math,
                "breakdown": label,
                "points": points,
                "total": total,
            }
        )


def compute_trends(query: TrendsQuery, frame: Frame) -> Trends:
    """The trend of every series over the loaded events (which may hold more than needed)."""
    starts = periods_overlapping(query.since, query.until, query.interval)
    first, last = day_number(query.since), day_number(query.until)
    inside = (frame.days >= first) & (frame.days <= last)
    bounds = np.array([day_number(s) for s in starts], dtype=np.int64)
    bucket = np.searchsorted(bounds, frame.days, side="right") - 1
    texts: list[str | None] | None = None
    if query.breakdown is not None:
        texts = [breakdown_text(v) for v in frame.values(query.breakdown)]
    results: list[TrendResult] = []
    for number, series in enumerate(query.series):
        rows = np.flatnonzero(frame.select(series.event, series.where) & inside)
        one = _Series(number, series, frame, bucket, starts)
        if texts is None:
            results.append(one.result(None, rows, one.math(rows)))
            continue
        groups: dict[str | None, list[int]] = {}
        for i in rows.tolist():
            groups.setdefault(texts[i], []).append(i)
        parts = {text: np.array(members, dtype=np.int64) for text, members in groups.items()}
        ranked = sorted(((text, one.math(part)) for text, part in parts.items()), key=rank_key)
        kept, rest = ranked[: query.breakdown_limit], ranked[query.breakdown_limit :]
        results.extend(one.result(text, parts[text], total) for text, total in kept)
        if rest:
            # The left-over values are one result, their math over all their events together.
            other = np.sort(np.concatenate([parts[text] for text, _ in rest]))
            results.append(one.result(OTHER, other, one.math(other)))
    return Trends(interval=query.interval, since=query.since, until=query.until, results=results)
