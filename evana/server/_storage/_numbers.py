"""Number rollups: per day, event name and tracked numeric property, how many numbers were
seen, their exact sums, the least and greatest, and the multiset of them, so that ``sum``,
``avg``, ``min``, ``max`` and percentile (``median``, ``p90``, ``p95``, ``p99``) trends never
read raw events.

Exact, whatever the order of the additions: the integers' sum is kept as an integer, and every
number's value as a float is kept as an integer count of 2**-1074 (the float grid's finest
step), so partial sums of different writes, merged later, add up to the same total as one pass
over every event; the float sum is then rounded once, as ``math.fsum`` rounds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select

from ._dialect import any_of, delete_and_read, dialect_of
from ._multiset import EXACT_INT, Multiset
from ._properties import Tracked
from ._tables import PERSON_EVENTS, events, number_rollups
from ._times import small_rows

if TYPE_CHECKING:
    from evana.server._batch import NormalizedEvent

    from ._bitmaps import RowCache

__all__ = ["PERCENTILES", "Summary", "number_key", "number_summaries", "write_number_deltas"]

#: The percentile maths, by rank (nearest rank, as the raw path's ``_trends._percentile``).
PERCENTILES = {"median": 50, "p90": 90, "p95": 95, "p99": 99}

_SCALE = 1 << 1074


def _scaled(value: float) -> int:
    """``value`` in units of 2**-1074, exactly (every finite float is a whole number of them)."""
    numerator, denominator = value.as_integer_ratio()
    return numerator * (_SCALE // denominator)


def _is_number(value: Any) -> bool:
    """A JSON number that a trend's math counts: an int or a finite float, never a boolean."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


@dataclass(slots=True)
class Summary:
    """The numbers of some events: how many, how many integers, the exact sums, the extremes,
    and the multiset of them (None: unknown, as an integer past ``EXACT_INT`` was among them,
    which float64 would round; percentiles of it are then read from raw events)."""

    count: int = 0
    ints: int = 0
    int_sum: int = 0
    scaled_sum: int = 0
    low: Any = None
    high: Any = None
    values: Multiset | None = field(default_factory=Multiset)

    def add(self, value: int | float) -> None:
        """Count one number."""
        self.count += 1
        if isinstance(value, int):
            self.ints += 1
            self.int_sum += value
            self.scaled_sum += _scaled(float(value))
            if abs(value) > EXACT_INT:
                self.values = None
        else:
            self.scaled_sum += _scaled(value)
        if self.values is not None:
            self.values.add(value)
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value

    def merge(self, other: Summary) -> None:
        """Count another summary's numbers too."""
        if not other.count:
            return
        self.count += other.count
        self.ints += other.ints
        self.int_sum += other.int_sum
        self.scaled_sum += other.scaled_sum
        if self.low is None or other.low < self.low:
            self.low = other.low
        if self.high is None or other.high > self.high:
            self.high = other.high
        if self.values is not None and other.values is not None:
            self.values.merge(other.values)
        else:
            self.values = None

    def total(self) -> int | float:
        """The sum: an integer when every number is one, else the float sum rounded once."""
        if self.ints == self.count:
            return self.int_sum
        return float(Fraction(self.scaled_sum, _SCALE))

    def knows(self, name: str) -> bool:
        """Whether ``math(name)`` can answer (a percentile needs the multiset)."""
        return name not in PERCENTILES or self.values is not None

    def math(self, name: str) -> Any:
        """``sum`` (0 when empty), ``avg``, ``min``, ``max`` or a percentile of
        ``PERCENTILES`` (None when empty; only when :meth:`knows` it)."""
        if name == "sum":
            return self.total()
        if not self.count:
            return None
        if name == "avg":
            return self.total() / self.count
        if name in PERCENTILES:
            assert self.values is not None, "a percentile of an unknown multiset"
            return self.values.percentile(PERCENTILES[name])
        return self.low if name == "min" else self.high


def number_key(event: str, prop: str) -> str:
    """The key of one numeric property of one event name."""
    return f"{event}\x1f{prop}"


def build_summaries(
    rows: Iterable[tuple[dt.date, str, Any]], props: Sequence[str]
) -> dict[tuple[dt.date, str], Summary]:
    """Summaries per (day, key) of the numbers of ``props`` in events (day, name, properties)."""
    out: dict[tuple[dt.date, str], Summary] = {}
    for day, name, properties in rows:
        if name in PERSON_EVENTS or not isinstance(properties, dict):
            continue
        for prop in props:
            value = properties.get(prop)
            if _is_number(value):
                key = (day, number_key(name, prop))
                found = out.get(key)
                if found is None:
                    found = out[key] = Summary()
                found.add(value)  # type: ignore[arg-type]
    return out


def append_summaries(
    conn: Connection, rows: Mapping[tuple[dt.date, str], Summary], table: Table = number_rollups
) -> None:
    """Insert one row per (day, key) summary."""
    from ._dialect import json_text

    if rows:
        conn.execute(
            insert(table),
            [
                {
                    "day": day,
                    "event": key,
                    "count": s.count,
                    "ints": s.ints,
                    "int_sum": str(s.int_sum),
                    "scaled_sum": str(s.scaled_sum),
                    "low": json_text(s.low),
                    "high": json_text(s.high),
                    "values": None if s.values is None else s.values.to_bytes(),
                }
                for (day, key), s in sorted(rows.items())
            ],
        )


def write_number_deltas(
    conn: Connection, rows: Sequence[NormalizedEvent], tracked: Tracked
) -> None:
    """Append the number rollups of newly stored events: of each tracked numeric property,
    on the days its rollups cover (nothing when none is tracked)."""
    if not tracked.numbers:
        return
    summaries = build_summaries(
        ((row.timestamp.date(), row.event, row.properties) for row in rows), list(tracked.numbers)
    )
    append_summaries(
        conn,
        {
            (day, key): summary
            for (day, key), summary in summaries.items()
            if tracked.covers_number(key.rsplit("\x1f", 1)[1], day)
        },
    )


def summary_of(row: Any, values: bytes | Multiset | None = None) -> Summary:
    """A stored row's summary, its multiset from ``values`` (stored bytes, or a cached
    multiset, copied) when the row was read without."""
    from ._dialect import json_value

    if values is None and "values" in row._fields:
        values = row.values
    if isinstance(values, Multiset):
        values = values.copy()
    elif values is not None:
        values = Multiset.from_bytes(values)
    return Summary(
        int(row.count),
        int(row.ints),
        int(row.int_sum),
        int(row.scaled_sum),
        json_value(row.low),
        json_value(row.high),
        values,
    )


#: A key's summaries over days, without their multisets (whether each has one: ``known``);
#: built once, as every trend of a number reads it (see ``_keys._BY_ID``).
_SUMMARIES = select(
    *[c for c in number_rollups.c if c.name != "values"],
    number_rollups.c["values"].is_not(None).label("known"),
).where(
    number_rollups.c.event == bindparam("key"),
    number_rollups.c.day.between(bindparam("start"), bindparam("end")),
)


def number_summaries(
    conn: Connection,
    event: str,
    prop: str,
    start: dt.date,
    end: dt.date,
    *,
    with_values: bool = True,
    cache: RowCache[Multiset] | None = None,
) -> dict[dt.date, Summary]:
    """Per day of [start, end], the summary of ``prop`` over events ``event``; without
    ``with_values``, summaries hold no multiset (a sum need not read every distinct number).

    With a ``cache``, multisets are read by row id, only those not cached (rows are immutable
    and ids never reused), and kept decoded, with the running counts a percentile makes; a
    row merged away between the two reads makes it read again without the cache.
    """
    key = number_key(event, prop)
    if with_values and cache is None:
        where = (number_rollups.c.event == key, number_rollups.c.day.between(start, end))
        rows = list(conn.execute(select(number_rollups).where(*where)))
    else:
        rows = list(conn.execute(_SUMMARIES, {"key": key, "start": start, "end": end}))
    blobs: dict[int, Multiset] = {}
    if with_values and cache is not None:
        live: dict[Hashable, set[int]] = {}
        for row in rows:
            live.setdefault((row.day, row.event), set()).add(row.id)
        cache.retain(live)
        wanted = [row.id for row in rows if row.known]
        blobs = cache.get_many(wanted)
        missing = [row_id for row_id in wanted if row_id not in blobs]
        if missing:
            key_of = {row.id: (row.day, row.event) for row in rows}
            dialect = dialect_of(conn)
            for row_id, blob in dialect.fetch_blobs(conn, number_rollups, "values", missing):
                blobs[row_id] = found = Multiset.from_bytes(bytes(blob))
                cache.put(row_id, found, found.nbytes, key_of[row_id])
        if len(blobs) < len(wanted):
            return number_summaries(conn, event, prop, start, end)
    out: dict[dt.date, Summary] = {}
    for row in rows:
        out.setdefault(row.day, Summary()).merge(summary_of(row, blobs.get(row.id)))
    return out


def merge_keys(conn: Connection, keys: Sequence[tuple[dt.date, str]]) -> int:
    """Replace the rows of each key whose multisets are smaller than ``_times.MERGE_BELOW``
    by one (the caller holds the keys' locks; a near-unique number would otherwise have every
    merge of a busy day rewrite every distinct number of the day); keys merged."""
    if not keys:
        return 0
    size = func.coalesce(func.length(number_rollups.c["values"]), 0)
    small = small_rows(conn, number_rollups, size, keys)
    gone = [row_id for ids in small.values() for row_id in ids]
    if not gone:
        return 0
    merged: dict[tuple[dt.date, str], Summary] = {}
    columns = [c for c in number_rollups.c if c.name != "values"]
    blobs = dict(dialect_of(conn).fetch_blobs(conn, number_rollups, "values", gone))
    for row in conn.execute(select(*columns).where(any_of(conn, number_rollups.c.id, gone))):
        summary = summary_of(row, blobs[row.id])
        merged.setdefault((row.day, row.event), Summary()).merge(summary)
    conn.execute(delete(number_rollups).where(any_of(conn, number_rollups.c.id, gone)))
    append_summaries(conn, merged)
    return len(merged)


def rebuild_keys(
    conn: Connection, keys: Iterable[tuple[dt.date, str]], single_writer: bool
) -> None:
    """Replace the rows of each (day, "<event>\\x1f<property>") key by one summary of the events
    stored now (an erasure's: its events are deleted, and the least and greatest cannot be taken
    out of a summary). The caller holds the keys' locks.

    The rows are deleted and the events read in one snapshot (``delete_and_read``).
    """
    for day, key in sorted(set(keys)):
        name, prop = key.rsplit("\x1f", 1)
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        found = (
            select(events.c.properties)
            .where(events.c.event == name)
            .where(events.c.timestamp >= start, events.c.timestamp < start + dt.timedelta(days=1))
        )
        gone = delete(number_rollups).where(
            number_rollups.c.day == day, number_rollups.c.event == key
        )
        rows = delete_and_read(conn, gone, number_rollups.c.id, found, single_writer)
        values = [p for (p,) in rows]
        summaries = build_summaries(((day, name, p) for p in values), [prop])
        append_summaries(conn, summaries)
