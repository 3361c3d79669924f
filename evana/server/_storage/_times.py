"""Event times: per (day, event name), the uid and timestamp of every event the rollups count.

Funnels need each person's ordered step times, which bitmaps do not keep. Reading them from
``events`` costs a scan of every row of the range (most of a funnel's time); here they are 12
packed bytes per event, read per key in one row once compaction has merged a day's deltas.

The table follows the rollups' rules: a write appends one row per (day, event) key built from
the events it newly inserted, in the same transaction (a resent batch, a replay or a crashed
worker adds nothing twice); compaction concatenates a key's rows under the key's rewrite lock;
an erasure takes the person's records out. A key is *complete* when its records are exactly as
many as the events its ``rollups`` rows count, which a reader checks in the same statement that
reads the records: a key that is not (events stored before the table existed and not yet
backfilled, raw events dropped by an operator before an erasure) makes the reader decline, and
the funnel reads raw events instead, with the same answer.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Table,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)

from ._bitmaps import load_rows
from ._dialect import any_of, delete_and_read, dialect_of, rows_of_keys
from ._tables import ALL_EVENTS, PERSON_EVENTS, event_times, events, rollups, users

if TYPE_CHECKING:
    from evana.server._batch import NormalizedEvent

    from ._bitmaps import BitmapCache, RowCache
    from ._database import Database
    from ._insight_rows import EventRows
    from ._rollups import Key

__all__ = [
    "MERGE_BELOW",
    "RECORD",
    "backfill_times",
    "erase_times",
    "incomplete_keys",
    "merge_times",
    "micros_of",
    "read_times",
    "small_rows",
    "times_to_build",
    "write_times",
]

#: One event's record: uid, then µs since 1970 UTC; 12 bytes, little-endian, unaligned.
RECORD = np.dtype([("uid", "<u4"), ("micros", "<i8")])

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)


class TimesStore(Protocol):
    """What event times need of a database dialect (``Dialect``)."""

    def append_times(self, conn: Connection, rows: Sequence[tuple[dt.date, str, bytes]]) -> None:
        """Insert rows (day, event, packed records)."""
        ...


def micros_of(stamp: dt.datetime) -> int:
    """A timestamp as µs since 1970 UTC, exactly."""
    return (stamp - _EPOCH) // _MICRO


def _pack(uids: Sequence[int], micros: Sequence[int]) -> bytes:
    records = np.empty(len(uids), dtype=RECORD)
    records["uid"] = uids
    records["micros"] = micros
    return records.tobytes()


def _records(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=RECORD)


def write_times(
    conn: Connection,
    dialect: TimesStore,
    rows: Sequence[NormalizedEvent],
    uids: Mapping[str, int],
) -> None:
    """Append the times of newly stored events: one row per (day, event) key (person
    operations count in no report, so they have none)."""
    groups: dict[tuple[dt.date, str], tuple[list[int], list[int]]] = {}
    for row in rows:
        if row.event in PERSON_EVENTS:
            continue
        stamp = row.timestamp
        key = (stamp.date(), row.event)
        found = groups.get(key)
        if found is None:
            found = groups[key] = ([], [])
        found[0].append(uids[row.user_id])
        found[1].append((stamp - _EPOCH) // _MICRO)
    dialect.append_times(
        conn, [(day, name, _pack(*found)) for (day, name), found in sorted(groups.items())]
    )


#: Compaction leaves a row of at least this many bytes (of event-times records, or of a number
#: rollup's multiset) as it is and merges only the smaller ones: else every merge of a busy
#: day's key would rewrite every record (or distinct number) of the day so far, a cost growing
#: with the square of the day's events. A day of a key then ends as a few rows of this size or
#: more, which a reader reads alike.
MERGE_BELOW = 4 << 20


def small_rows(
    conn: Connection, table: Table, size: ColumnElement[Any], keys: Sequence[Key]
) -> dict[Key, list[int]]:
    """Of each of ``keys`` that has several rows of ``table`` whose ``size`` is under
    :data:`MERGE_BELOW`, the ids of those rows (what a merge of the key takes)."""
    small: dict[Key, list[int]] = {}
    for key, (row_id, found) in rows_of_keys(conn, table, keys, table.c.id, size):
        if found < MERGE_BELOW:
            small.setdefault(key, []).append(row_id)
    return {key: ids for key, ids in sorted(small.items()) if len(ids) > 1}


def merge_times(conn: Connection, keys: Sequence[Key]) -> int:
    """Replace each key's rows smaller than :data:`MERGE_BELOW` by one holding all their
    records (the caller holds the keys' locks); return keys merged."""
    if not keys:
        return 0
    merged = small_rows(conn, event_times, func.length(event_times.c.times), keys)
    if not merged:
        return 0
    gone = [row_id for ids in merged.values() for row_id in ids]
    blobs = dict(dialect_of(conn).fetch_blobs(conn, event_times, "times", gone))
    conn.execute(delete(event_times).where(any_of(conn, event_times.c.id, gone)))
    conn.execute(
        insert(event_times),
        [
            {"day": day, "event": name, "times": b"".join(bytes(blobs[i]) for i in ids)}
            for (day, name), ids in merged.items()
        ],
    )
    return len(merged)


def erase_times(
    conn: Connection, key: Key, uids: set[int], deleted: Counter[tuple[int, int]]
) -> None:
    """Take a person out of a key's records, its rows replaced by one (an erasure's; the
    caller holds the key's lock): every record of ``uids``, and of the others one record per
    deleted event (uid, µs) in ``deleted`` (a uid whose event a writer stored beside the
    erasure keeps that event, in the rollups too)."""
    day, name = key
    where = (event_times.c.day == day, event_times.c.event == name)
    blobs = [bytes(b) for b in conn.execute(select(event_times.c.times).where(*where)).scalars()]
    if not blobs:
        return
    records = _records(b"".join(blobs))
    keep = ~np.isin(records["uid"], np.array(sorted(uids), dtype=np.uint32))
    if deleted:
        left = Counter(deleted)
        others = np.isin(records["uid"], np.array(sorted({u for u, _ in left}), dtype=np.uint32))
        for i in np.flatnonzero(others & keep).tolist():
            found = (int(records["uid"][i]), int(records["micros"][i]))
            if left[found] > 0:
                left[found] -= 1
                keep[i] = False
    kept = records[keep]
    conn.execute(delete(event_times).where(*where))
    if len(kept):
        conn.execute(insert(event_times).values(day=day, event=name, times=kept.tobytes()))


def read_times(
    conn: Connection,
    since: dt.date | None,
    until: dt.date,
    names: Sequence[str],
    cache: BitmapCache | None = None,
) -> EventRows | None:
    """Events of ``names`` on the UTC days [since, until] as rows (uid, µs, name; no
    properties), from event times; None when some key of the range is not complete. The rows
    come grouped by name, each name's in person order (see :func:`_by_person`).

    One statement reads the rollups' counts and the ids and sizes of the event-times rows, so
    both come from one snapshot even while writers, compaction and erasures run; each name's
    events then come from ``cache`` (rows are immutable, ids never reused: the same rows hold
    the same events), or from its rows' records, cached or read by id. A row that a
    compaction merged away in between makes the read decline too.
    """
    from ._insight_rows import EventRows

    chosen = sorted(set(names) - PERSON_EVENTS)
    nothing = cast(null(), BigInteger)
    counted = (
        select(
            rollups.c.day,
            rollups.c.event,
            func.sum(rollups.c.events).label("events"),
            nothing.label("id"),
        )
        .where(rollups.c.event.in_(chosen), rollups.c.day <= until)
        .group_by(rollups.c.day, rollups.c.event)
    )
    stored = select(
        event_times.c.day,
        event_times.c.event,
        (func.length(event_times.c.times) / RECORD.itemsize).label("events"),
        event_times.c.id,
    ).where(event_times.c.event.in_(chosen), event_times.c.day <= until)
    if since is not None:
        counted = counted.where(rollups.c.day >= since)
        stored = stored.where(event_times.c.day >= since)
    expected: dict[Key, int] = {}
    have: dict[Key, int] = {}
    rows: list[tuple[int, Key]] = []
    for day, name, count, row_id in conn.execute(union_all(counted, stored)):
        if row_id is None:
            expected[(day, name)] = int(count)
        else:
            have[(day, name)] = have.get((day, name), 0) + int(count)
            rows.append((int(row_id), (day, name)))
    if have != expected:
        return None
    by_name: dict[str, list[tuple[int, Key]]] = {}
    for row in sorted(rows, key=lambda row: (row[1][1], row[1][0], row[0])):
        by_name.setdefault(row[1][1], []).append(row)
    runs = _runs(conn, by_name, cache)
    if runs is None:
        return None
    found = [name for name in chosen if name in runs]
    sizes = np.array([len(runs[name][0]) for name in found], dtype=np.int64)
    codes = np.array([chosen.index(name) for name in found], dtype=np.int32)
    return EventRows(
        uids=_joined([runs[name][0] for name in found], np.uint32),
        micros=_joined([runs[name][1] for name in found], np.int64),
        codes=np.repeat(codes, sizes),
        names=chosen,
        properties=None,
    )


#: A name's events over some days: uids and µs timestamps, in person order (see _by_person).
Run = tuple[np.ndarray, np.ndarray]


def _runs(
    conn: Connection, by_name: Mapping[str, Sequence[tuple[int, Key]]], cache: BitmapCache | None
) -> dict[str, Run] | None:
    """Each name's events, of its rows ``(id, key)`` (every live row of its keys, by day):
    cached under the rows' ids, so a funnel of the same days reads and orders them once; the
    rest from the rows' records. None when a row is gone."""
    ids = {name: tuple(sorted(row_id for row_id, _ in named)) for name, named in by_name.items()}
    runs: dict[str, Run] = {}
    if cache is not None:
        for name, union in ids.items():
            found = cache.runs.get_union(union)
            if found is not None:
                runs[name] = found
    missing = [row for name, named in by_name.items() if name not in runs for row in named]
    records = _load(conn, missing, None if cache is None else cache.times) if missing else {}
    if records is None:
        return None
    for name, named in by_name.items():
        if name not in runs:
            run = runs[name] = _by_person([records[row_id] for row_id, _ in named])
            if cache is not None:
                cache.runs.put_union(ids[name], run, run[0].nbytes + run[1].nbytes)
    return runs


def _by_person(parts: Sequence[np.ndarray]) -> Run:
    """The events of records, in uid order, each uid's in the order they came (by day, and
    within a day mostly by time): a stable radix pass per 16 bits of the uid. A funnel's sort
    of its steps' keys (person, then time) then finds them in order, or nearly, and only
    checks and merges runs: a few ms a million events, where a sort from scratch takes 35-50.
    """
    uids = _joined([part["uid"] for part in parts], np.uint32)
    micros = _joined([part["micros"] for part in parts], np.int64)
    order = np.argsort((uids & 0xFFFF).astype(np.uint16), kind="stable")
    if len(uids) and int(uids.max()) > 0xFFFF:
        high = (uids >> 16).astype(np.uint16)[order]
        order = order[np.argsort(high, kind="stable")]
    return uids[order], micros[order]


def _joined(parts: Sequence[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=dtype)
    return np.concatenate(parts, dtype=dtype)


def _load(
    conn: Connection, rows: Sequence[tuple[int, Key]], cache: RowCache[np.ndarray] | None
) -> dict[int, np.ndarray] | None:
    """The records of rows (id, key), every live row of each key named: cached ones, the rest
    read by id; None when one is gone."""
    found = load_rows(
        rows,
        cache,
        lambda ids: dialect_of(conn).fetch_blobs(conn, event_times, "times", ids),
        _sized_records,
    )
    return found if len(found) == len(rows) else None


def _sized_records(blob: bytes) -> tuple[np.ndarray, int]:
    records = _records(bytes(blob))
    return records, records.nbytes


def incomplete_keys(conn: Connection) -> list[Key]:
    """The (day, event) keys whose records are not as many as their rollups count, oldest
    first (one statement: the counts of both tables from one snapshot)."""
    counted = (
        select(rollups.c.day, rollups.c.event, func.sum(rollups.c.events), literal(0))
        .where(rollups.c.event.not_in([ALL_EVENTS, *sorted(PERSON_EVENTS)]))
        .group_by(rollups.c.day, rollups.c.event)
    )
    stored = select(
        event_times.c.day,
        event_times.c.event,
        func.sum(func.length(event_times.c.times) / RECORD.itemsize),
        literal(1),
    ).group_by(event_times.c.day, event_times.c.event)
    counts: dict[Key, list[int]] = {}
    for day, name, count, side in conn.execute(union_all(counted, stored)):
        counts.setdefault((day, name), [0, 0])[side] = int(count)
    return sorted(key for key, (events, records) in counts.items() if events and events != records)


def times_to_build(db: Database) -> int:
    """How many keys :func:`backfill_times` would build now."""
    with db.read() as conn:
        return len(incomplete_keys(conn))


def backfill_times(db: Database, progress: Callable[[int, int], None] | None = None) -> int:
    """Build the records of every incomplete key from the events stored (``evana db
    upgrade``: events stored before event times existed), one key per transaction under the
    key's rewrite lock; return keys rebuilt. Resumable: a key done is complete, and a run
    looks only at incomplete ones.

    The key's rows are deleted and its events read in one snapshot (``delete_and_read``),
    beside running writers too. A key whose raw events an operator dropped cannot be
    rebuilt; it stays incomplete, and funnels over its day read raw events.
    """
    with db.read() as conn:
        keys = incomplete_keys(conn)
    for done, (day, name) in enumerate(keys, 1):
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        found = (
            select(users.c.uid, events.c.timestamp)
            .select_from(events.join(users, events.c.user_id == users.c.user_id))
            .where(events.c.event == name)
            .where(events.c.timestamp >= start, events.c.timestamp < start + dt.timedelta(days=1))
        )
        gone = delete(event_times).where(event_times.c.day == day, event_times.c.event == name)
        with db.write() as conn:
            db.dialect.lock_rollup_keys(conn, [(day, name)])
            stored = delete_and_read(conn, gone, event_times.c.id, found, db.dialect.single_writer)
            if stored:
                conn.execute(
                    insert(event_times).values(
                        day=day,
                        event=name,
                        times=_pack([u for u, _ in stored], [micros_of(t) for _, t in stored]),
                    )
                )
        if progress is not None:
            progress(done, len(keys))
    return len(keys)
