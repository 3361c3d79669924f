"""Insights of one tracked property, answered from its rollups instead of raw events.

A query qualifies when every filter and the breakdown name the same event property and that
property is tracked and ready (``EVANA_INSIGHT_PROPERTIES``); for trends, every series must also
name its event and count events or persons (the per-day persons of the other reports may be of
any event: the union over every event name). Each distinct value of the property then stands
for all the events that carry it: the filters are judged once per value (with the predicate the
raw path uses on each event), and counts add up and bitmaps union over the values kept.
Anything else (another math, two properties, a person property) returns None, and the caller
reads raw events.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pyroaring import AbstractBitMap, BitMap

from evana.insights import Filter, TrendResult, Trends, TrendsQuery
from evana.server._storage import MISSING_VALUE, PERCENTILES, Summary, json_value

from ._filters import compile_where
from ._periods import period_spans
from ._trends import OTHER, rank_key, rollup_trends
from ._values import PERSON_PREFIX, breakdown_text

if TYPE_CHECKING:
    from ._activity import ActivityReader

__all__ = ["number_trends", "property_by_day", "property_top_events", "property_trends"]

#: Per day: the events and the persons of some values.
Days = dict[dt.date, tuple[int, AbstractBitMap]]

_UNSEEN: list[int] = []  # a value text not judged yet (see _counts)


def _one_property(where: Sequence[Filter], breakdown: str | None = None) -> str | None:
    """The one event property that the filters and breakdown name, if it is one."""
    keys = {f.key for f in where}
    if breakdown is not None:
        keys.add(breakdown)
    if len(keys) != 1:
        return None
    (key,) = keys
    return None if key.startswith(PERSON_PREFIX) else key


def _passing(
    prop: str, where: Sequence[Filter], by_value: bool
) -> Callable[[str], tuple[bool, str | None]]:
    """Of a value text of ``prop``: whether it passes ``where``, and its group (its breakdown
    text with ``by_value``, else None)."""
    holds = compile_where(where)

    def judge(text: str) -> tuple[bool, str | None]:
        value = None if text == MISSING_VALUE else json_value(text)
        if holds is not None and not holds({} if value is None else {prop: value}, None):
            return False, None
        return True, breakdown_text(value) if by_value else None

    return judge


def _groups(
    reader: ActivityReader,
    event: str,
    prop: str,
    start: dt.date | None,
    end: dt.date,
    where: Sequence[Filter],
    *,
    by_value: bool,
) -> dict[str | None, Days] | None:
    """The events and persons per day of the values of ``prop`` that pass ``where``, grouped
    by their breakdown text (``by_value``; else all under None); None: not answerable here."""
    values = reader.properties.values(event, prop, start, end)
    if values is None:
        return None
    judge = _passing(prop, where, by_value)
    out: dict[str | None, Days] = {}
    for text, by_day in values.items():
        passes, label = judge(text)
        if not passes:
            continue
        group = out.setdefault(label, {})
        for day, (count, bitmap) in by_day.items():
            _add(group, day, count, reader.persons.translate(bitmap))
    return out


def _counts(
    reader: ActivityReader,
    event: str,
    prop: str,
    start: dt.date,
    end: dt.date,
    spans: Sequence[tuple[dt.date, dt.date]],
    where: Sequence[Filter],
    *,
    by_value: bool,
) -> dict[str | None, list[int]] | None:
    """The events of [start, end] in each of ``spans`` (contiguous, in order, covering it) of
    the values of ``prop`` that pass ``where``, grouped as :func:`_groups` groups them, from
    the values' counts alone: one pass adding each day's counts, each value judged once.
    None: not answerable here."""
    days = reader.properties.tallies(event, prop, start, end)
    if days is None:
        return None
    judge = _passing(prop, where, by_value)
    starts = [first for first, _ in spans]
    out: dict[str | None, list[int]] = {}
    rows: dict[str, list[int] | None] = {}  # per value text, its group's row (None: left out)
    for day, counts in days:
        at = bisect.bisect_right(starts, day) - 1
        for text, count in counts.items():
            row = rows.get(text, _UNSEEN)
            if row is _UNSEEN:
                passes, label = judge(text)
                row = rows[text] = out.setdefault(label, [0] * len(spans)) if passes else None
            if row is not None:
                row[at] += count
    return out


def _add(days: Days, day: dt.date, count: int, persons: AbstractBitMap) -> None:
    known = days.get(day)
    if known is None:
        days[day] = (count, persons)
        return
    total, seen = known
    days[day] = (total + count, BitMap.union(seen, persons))


def _merge(parts: Sequence[Days]) -> Days:
    """The days of several groups as one (``$other``)."""
    out: Days = {}
    for part in parts:
        for day, (count, persons) in part.items():
            _add(out, day, count, persons)
    return out


def property_by_day(
    reader: ActivityReader,
    event: str | None,
    start: dt.date | None,
    end: dt.date,
    where: Sequence[Filter],
) -> dict[dt.date, AbstractBitMap] | None:
    """Persons of ``event`` (None: any event, the union over every event name counted in
    [start, end]) where ``where`` holds, per day, from property rollups; None when they cannot
    answer (see the module)."""
    prop = _one_property(where)
    if prop is None:
        return None
    names = [event] if event is not None else reader.rollups.event_names(start, end)
    found: dict[dt.date, list[AbstractBitMap]] = {}
    for name in names:
        groups = _groups(reader, name, prop, start, end, where, by_value=False)
        if groups is None:
            return None
        for day, (_, persons) in groups.get(None, {}).items():
            if persons:
                found.setdefault(day, []).append(persons)
    return {
        day: parts[0] if len(parts) == 1 else BitMap.union(*parts)
        for day, parts in sorted(found.items())
    }


def property_top_events(
    reader: ActivityReader, start: dt.date, end: dt.date, limit: int, where: Sequence[Filter]
) -> list[tuple[str, int, int]] | None:
    """(name, events, distinct persons) of the ``limit`` event names with most events where
    ``where`` holds, by count desc then name in code point order, from property rollups; None
    when they cannot answer."""
    prop = _one_property(where)
    if prop is None:
        return None
    counts: list[tuple[str, int]] = []
    for name in reader.rollups.event_names(start, end):
        found = _counts(reader, name, prop, start, end, [(start, end)], where, by_value=False)
        if found is None:
            return None
        total = sum(found.get(None, ()))
        if total:
            counts.append((name, total))
    out = []
    for name, total in sorted(counts, key=lambda item: (-item[1], item[0]))[:limit]:
        groups = _groups(reader, name, prop, start, end, where, by_value=False)
        assert groups is not None  # the same property, as ready as a moment ago
        out.append((name, total, _persons(groups.get(None, {}))))
    return out


def property_trends(query: TrendsQuery, reader: ActivityReader) -> Trends | None:
    """A trends query from property rollups, or None when they cannot answer it."""
    props = set()
    for series in query.series:
        if series.event is None or series.math not in ("total", "users"):
            return None
        props.add(_one_property(series.where, query.breakdown))
    if len(props) != 1 or None in props:
        return None
    (prop,) = props
    assert prop is not None
    spans = period_spans(query.since, query.until, query.interval)
    by_value = query.breakdown is not None
    results: list[TrendResult] = []
    for number, series in enumerate(query.series):
        assert series.event is not None
        if series.math == "total":
            found = _counts(
                reader,
                series.event,
                prop,
                query.since,
                query.until,
                spans,
                series.where,
                by_value=by_value,
            )
            groups: _Groups | None = None if found is None else _Counted(found, len(spans))
        else:
            days = _groups(
                reader,
                series.event,
                prop,
                query.since,
                query.until,
                series.where,
                by_value=by_value,
            )
            groups = None if days is None else _Persons(days, spans)
        if groups is None:
            return None
        ranked = sorted(groups.totals(), key=rank_key)
        if not by_value:
            ranked = ranked or [(None, 0)]
        kept, rest = ranked[: query.breakdown_limit], ranked[query.breakdown_limit :]
        results.extend(
            _result(query, number, label, groups.points([label]), total, spans)
            for label, total in kept
        )
        if rest:
            labels = [label for label, _ in rest]
            points, total = groups.points(labels), groups.total(labels)
            results.append(_result(query, number, OTHER, points, total, spans))
    return Trends(interval=query.interval, since=query.since, until=query.until, results=results)


class _Groups(Protocol):
    """A series' groups (breakdown values): their totals, and points per span of some."""

    def totals(self) -> list[tuple[str | None, int]]: ...

    def points(self, labels: Sequence[str | None]) -> list[int]: ...

    def total(self, labels: Sequence[str | None]) -> int: ...


class _Counted:
    """Events: each group's count per span (see :func:`_counts`)."""

    def __init__(self, rows: dict[str | None, list[int]], spans: int) -> None:
        self.rows = rows
        self.spans = spans

    def totals(self) -> list[tuple[str | None, int]]:
        return [(label, sum(row)) for label, row in self.rows.items()]

    def points(self, labels: Sequence[str | None]) -> list[int]:
        rows = [self.rows[label] for label in labels if label in self.rows]
        if len(rows) < 2:
            return rows[0] if rows else [0] * self.spans
        return [sum(span) for span in zip(*rows, strict=True)]

    def total(self, labels: Sequence[str | None]) -> int:
        return sum(sum(self.rows[label]) for label in labels)


class _Persons:
    """Distinct persons: each group's bitmaps per day (see :func:`_groups`)."""

    def __init__(self, groups: dict[str | None, Days], spans: Sequence[tuple[dt.date, dt.date]]):
        self.groups = groups
        self.spans = spans

    def totals(self) -> list[tuple[str | None, int]]:
        return [(label, _persons(days)) for label, days in self.groups.items()]

    def points(self, labels: Sequence[str | None]) -> list[int]:
        return _by_span(self._days(labels), self.spans)

    def total(self, labels: Sequence[str | None]) -> int:
        return _persons(self._days(labels))

    def _days(self, labels: Sequence[str | None]) -> Days:
        parts = [self.groups[label] for label in labels if label in self.groups]
        return parts[0] if len(parts) == 1 else _merge(parts)


def _result(
    query: TrendsQuery,
    number: int,
    label: str | None,
    values: Sequence[int],
    total: int,
    spans: Sequence[tuple[dt.date, dt.date]],
) -> TrendResult:
    """One result of series ``number``: ``values``, one per period, and the whole range's
    ``total``."""
    series = query.series[number]
    return TrendResult.model_validate(
        {
            "series": number,
            "event": series.event,
            "math": series.math,
            "breakdown": label,
            "points": [
                {"date": start, "value": value}
                for (start, _), value in zip(spans, values, strict=True)
            ],
            "total": total,
        }
    )


def _by_span(days: Days, spans: Sequence[tuple[dt.date, dt.date]]) -> list[int]:
    """Distinct persons of each span (contiguous, in order), in one pass over the days."""
    starts = [start for start, _ in spans]
    parts: list[list[AbstractBitMap]] = [[] for _ in spans]
    for day, (_, persons) in days.items():
        at = bisect.bisect_right(starts, day) - 1
        if at < 0 or day > spans[at][1]:
            continue
        parts[at].append(persons)
    return [len(BitMap.union(*found)) if found else 0 for found in parts]


def _persons(days: Days) -> int:
    """Distinct persons of every day of ``days``."""
    parts = [persons for _, persons in days.values()]
    return len(BitMap.union(*parts)) if parts else 0


#: The maths a number rollup answers (percentiles only where every summary read keeps its
#: multiset, see ``Summary.knows``).
NUMBER_MATHS = ("sum", "avg", "min", "max", "median", "p90", "p95", "p99")


def _numbers_answer(query: TrendsQuery, reader: ActivityReader) -> bool:
    """Whether number rollups (with the rollups for counts) answer every series."""
    if query.breakdown is not None:
        return False
    tracked = reader.properties.tracked
    numeric = False
    for series in query.series:
        if series.where or series.event is None:
            return False
        if series.math in NUMBER_MATHS:
            if series.property is None or not tracked.number_ready(series.property):
                return False
            numeric = True
        elif series.math not in ("total", "users"):
            return False
    return numeric


def number_trends(query: TrendsQuery, reader: ActivityReader) -> Trends | None:
    """A trends query without filters or breakdown whose property maths (``NUMBER_MATHS``)
    name tracked numeric properties, from number rollups (and its counts of events and persons
    from the rollups); None when they cannot answer it."""
    if not _numbers_answer(query, reader):
        return None
    spans = period_spans(query.since, query.until, query.interval)
    results: list[TrendResult] = []
    for number, series in enumerate(query.series):
        if series.math in NUMBER_MATHS:
            result = _number_result(query, number, reader, spans)
            if result is None:
                return None
            results.append(result)
        else:
            one = rollup_trends(query.model_copy(update={"series": [series]}), reader)
            results.append(one.results[0].model_copy(update={"series": number}))
    return Trends(interval=query.interval, since=query.since, until=query.until, results=results)


def _number_result(
    query: TrendsQuery,
    number: int,
    reader: ActivityReader,
    spans: Sequence[tuple[dt.date, dt.date]],
) -> TrendResult | None:
    """Series ``number`` from its number rollups; None when a day's summary cannot answer its
    math (a percentile of numbers whose multiset is unknown)."""
    series = query.series[number]
    assert series.event is not None
    assert series.property is not None
    by_day = reader.properties.numbers(
        series.event,
        series.property,
        query.since,
        query.until,
        with_values=series.math in PERCENTILES,
    )
    if not all(summary.knows(series.math) for summary in by_day.values()):
        return None

    def over(first: dt.date, last: dt.date) -> Any:
        out = Summary()
        for day, summary in by_day.items():
            if first <= day <= last:
                out.merge(summary)
        return out.math(series.math)

    return TrendResult.model_validate(
        {
            "series": number,
            "event": series.event,
            "math": series.math,
            "breakdown": None,
            "points": [{"date": start, "value": over(start, end)} for start, end in spans],
            "total": over(query.since, query.until),
        }
    )
