"""Property rollups: each value of a tracked event property, per day and event, as a count and
a bitmap of users, so insights filtered or broken down by that property never read raw events.

Which properties are tracked is the operator's choice (``EVANA_INSIGHT_PROPERTIES``): a rollup
per distinct value is cheap for a property of a few hundred values (plan, country, browser) and
ruinous for one of millions (a URL, an amount), which insights read from raw events instead.

The rows live in ``property_rollups``, keyed like ``rollups`` by (day, key) with the key
"<event>\x1f<property>", so compaction, erasure and the partition of work by key treat both
tables alike; a row holds every value of its key (``_packs``). The property holds no raw
U+001F (property names are checked), so a key splits from the right without ambiguity even
when the event name holds one.

Exactly once. ``tracked_properties`` says, per property, up to which day the rollups are
complete. A writer reads it under a shared lock (an advisory one on PostgreSQL) before storing
a batch and adds the values of the events of complete days only; the backfill takes that lock
exclusively (which waits for those writers to commit and holds off new ones), builds one more
day from the events stored, and moves ``complete_through`` on, in one transaction. So every
event is counted by exactly one of them. The last step builds every remaining day and marks
the property ready.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyroaring import AbstractBitMap, BitMap
from sqlalchemy import Connection, and_, delete, insert, select, update

from evana._settings import check_property_name

from ._bitmaps import BitmapCache, load_rows
from ._packs import Values, events_of, merge, pack, tally, unpack, unpack_frozen, unpack_tally
from ._rollups import Delta, Key, RollupStore
from ._tables import (
    ALL_EVENTS,
    PERSON_EVENTS,
    events,
    number_rollups,
    property_rollups,
    rollups,
    tracked_properties,
)
from ._tables import users as users_table

if TYPE_CHECKING:
    from evana.server._batch import NormalizedEvent

    from ._database import Database
    from ._dialect import Dialect

__all__ = [
    "MAX_VALUE_LENGTH",
    "Tracked",
    "append_values",
    "backfill",
    "merge_values",
    "property_deltas",
    "property_key",
    "read_tracked",
    "split_key",
    "sync_tracked",
    "value_text",
]

log = logging.getLogger("evana.storage")

SEP = "\x1f"
#: Values longer than this (as JSON) are kept as one "too long" marker: an index entry has a
#: size limit, and a query that meets the marker reads raw events instead.
MAX_VALUE_LENGTH = 256
#: The value text of a value too long to keep (never valid JSON, so never a real value's).
TOO_LONG = "#"
#: The value text of a missing or null property.
MISSING = "null"


def value_text(value: Any) -> str:
    """How a property value is keyed: its JSON text (``null`` when missing), or the too-long
    marker.

    >>> value_text("pro"), value_text(5.0), value_text(None), value_text("x" * 300)
    ('"pro"', '5.0', 'null', '#')
    >>> value_text(1), value_text(True), value_text(1), value_text(0.0), value_text(-0.0)
    ('1', 'true', '1', '0.0', '-0.0')
    """
    if value is None:
        return MISSING
    # Strings, ints and booleans recur in every write (a plan, a country): their texts are
    # remembered, by class too (True and 1 are equal in Python, not in JSON). Floats are not:
    # 0.0 and -0.0 are equal keys with different texts.
    cls = value.__class__
    if cls is str or cls is int or cls is bool:
        text = _TEXTS.get((cls, value))
        if text is None:
            if len(_TEXTS) >= _TEXTS_KEPT:
                _TEXTS.clear()
            text = _TEXTS[(cls, value)] = _value_text(value)
        return text
    return _value_text(value)


_TEXTS: dict[tuple[type, Any], str] = {}
_TEXTS_KEPT = 10_000


def _value_text(value: Any) -> str:
    from ._dialect import json_text  # the dialects import this module's users

    text = json_text(value)
    return text if len(text) <= MAX_VALUE_LENGTH else TOO_LONG


def property_key(event: str, prop: str) -> str:
    """The rollup key of one property of one event name (its row holds every value)."""
    return f"{event}{SEP}{prop}"


def split_key(key: str) -> tuple[str, str]:
    """(event, property) of a property rollup key.

    >>> split_key(property_key("a\\x1fb", "plan"))
    ('a\\x1fb', 'plan')
    """
    name, prop = key.rsplit(SEP, 1)
    return name, prop


#: The kinds of tracked property: each distinct value (``property_rollups``), or numbers
#: (``number_rollups``).
VALUES, NUMBER = "values", "number"


@dataclass(frozen=True, slots=True)
class Tracked:
    """The tracked properties as of one transaction: per property, the last day whose events
    are all in its rollups (``dt.date.max``: every day, the property is ready); ``through`` for
    properties kept by value, ``numbers`` for numeric ones."""

    through: Mapping[str, dt.date]
    numbers: Mapping[str, dt.date] = field(default_factory=dict)

    def covers(self, prop: str, day: dt.date) -> bool:
        """Whether the rollups of ``prop`` hold every event of ``day`` (a writer adds an event
        of that day; a reader may use them)."""
        last = self.through.get(prop)
        return last is not None and day <= last

    def ready(self, prop: str) -> bool:
        """Whether ``prop``'s rollups hold every stored event (a query may use them)."""
        return self.through.get(prop) == dt.date.max

    def covers_number(self, prop: str, day: dt.date) -> bool:
        """:meth:`covers` for a numeric property."""
        last = self.numbers.get(prop)
        return last is not None and day <= last

    def number_ready(self, prop: str) -> bool:
        """:meth:`ready` for a numeric property."""
        return self.numbers.get(prop) == dt.date.max


#: Read by every write and every report of a tracked property, built once: SQLAlchemy then
#: keys its compiled form without walking the statement again on each call.
_TRACKED = select(
    tracked_properties.c.property,
    tracked_properties.c.kind,
    tracked_properties.c.complete_through,
    tracked_properties.c.ready,
)


def read_tracked(conn: Connection, dialect: Any = None) -> Tracked:
    """The tracked properties. With a ``dialect`` (a writer's read), first take the shared
    lock that holds off a backfill step until this transaction ends."""
    if dialect is not None:
        dialect.lock_tracked(conn, shared=True)
    found: dict[str, dict[str, dt.date]] = {VALUES: {}, NUMBER: {}}
    for prop, kind, last, ready in conn.execute(_TRACKED):
        if ready or last is not None:  # a property no day of which is built yet covers none
            found.setdefault(kind, {})[prop] = dt.date.max if ready else last
    return Tracked(found[VALUES], found[NUMBER])


def property_deltas(
    rows: Iterable[tuple[dt.date, str, int, Any]], tracked: Tracked, *, every_day: bool = False
) -> dict[Key, dict[str, Delta]]:
    """Deltas of the property rollups from newly stored events (day, event, uid, properties):
    per tracked property whose rollups cover the day (``every_day``: all of them, the
    backfill's case), per value text, the events that had it (``null``: none).

    One pass over the events puts each one's uid in a cell per property, keyed by (day,
    event) and the value's identity (:func:`_identity`), so a value's JSON text is made once
    per cell, not once per event.
    """
    props = list(tracked.through)
    if not props:
        return {}
    # Per (day, event): per property covered, its name and its cells (per value identity,
    # the value and the uids that had it).
    groups: dict[tuple[dt.date, str], list[tuple[str, dict[Any, tuple[Any, list[int]]]]]] = {}
    for day, name, uid, properties in rows:
        group = groups.get((day, name))
        if group is None:
            if name in PERSON_EVENTS:
                continue
            group = groups[(day, name)] = [
                (prop, {}) for prop in props if every_day or tracked.covers(prop, day)
            ]
        found = properties if isinstance(properties, dict) else _EMPTY
        for prop, cells in group:
            value = found.get(prop)
            # A string, the common case, is its own identity.
            ident = value if value.__class__ is str else _identity(value)
            cell = cells.get(ident)
            if cell is None:
                cell = cells[ident] = (value, [])
            cell[1].append(uid)
    out: dict[Key, dict[str, Delta]] = {}
    for (day, name), group in groups.items():
        for prop, cells in group:
            values = out[(day, property_key(name, prop))] = {}
            for value, uids in cells.values():
                # Distinct identities have distinct JSON texts, but for the too-long marker,
                # which several long values share.
                delta = values.setdefault(value_text(value), Delta())
                delta.events += len(uids)
                delta.uids += uids
    return out


_EMPTY: dict[str, Any] = {}


def _identity(value: Any) -> Any:
    """What tells a property value other than a string apart as JSON would: None itself,
    else its class with it (``1``, ``1.0`` and ``True`` are equal in Python, not in JSON), or
    for a list or an object, which cannot be a key, its JSON text. No string equals any."""
    if value is None:
        return None
    try:
        hash(value)
    except TypeError:
        return ("json", value_text(value))
    return (value.__class__, value)


def append_values(
    conn: Connection, dialect: RollupStore, deltas: dict[Key, dict[str, Delta]]
) -> None:
    """Append one packed row per key of ``deltas`` to ``property_rollups``."""
    dialect.append_rollups(
        conn,
        [
            (
                day,
                key,
                sum(delta.events for delta in values.values()),
                pack({text: (d.events, BitMap(d.uids)) for text, d in values.items()}),
            )
            for (day, key), values in sorted(deltas.items())
        ],
        property_rollups,
    )


def write_property_deltas(
    conn: Connection,
    dialect: RollupStore,
    rows: Sequence[NormalizedEvent],
    uids: Mapping[str, int],
    tracked: Tracked,
) -> None:
    """Append the property rollups of newly stored events (nothing when none is tracked)."""
    if not tracked.through:
        return
    deltas = property_deltas(
        ((r.timestamp.date(), r.event, uids[r.user_id], r.properties) for r in rows), tracked
    )
    append_values(conn, dialect, deltas)


def sync_tracked(
    db: Database, wanted: Sequence[str], numbers: Sequence[str] = (), *, drop: bool = True
) -> list[str]:
    """Make the tracked properties ``wanted`` (by value) and ``numbers`` (numeric): new ones
    are added (ready at once when no event is stored yet, else waiting for :func:`backfill`)
    and, with ``drop``, others are dropped with their rollups. Returns the properties that
    still need a backfill."""
    asked = {(check_property_name(name), VALUES) for name in wanted}
    asked |= {(check_property_name(name), NUMBER) for name in numbers}
    with db.write() as conn:
        db.dialect.lock_tracked(conn)
        known = {(row.property, row.kind) for row in conn.execute(select(tracked_properties))}
        gone = sorted(known - asked) if drop else []
        for prop, kind in gone:
            conn.execute(
                delete(tracked_properties).where(
                    tracked_properties.c.property == prop, tracked_properties.c.kind == kind
                )
            )
            _delete_rows_of(conn, prop, kind)
        new = sorted(asked - known)
        if new:
            empty = conn.execute(select(events.c.event_id).limit(1)).first() is None
            conn.execute(
                insert(tracked_properties),
                [
                    {"property": p, "kind": k, "complete_through": None, "ready": empty}
                    for p, k in new
                ],
            )
        if gone or new:
            log.info("msg=tracked_properties added=%s dropped=%s", new, gone)
        return sorted(
            {
                prop
                for (prop,) in conn.execute(
                    select(tracked_properties.c.property).where(~tracked_properties.c.ready)
                )
            }
        )


def _delete_rows_of(conn: Connection, prop: str, kind: str) -> None:
    """Drop every rollup row of ``prop`` (a property no longer tracked)."""
    from ._numbers import number_key

    names = [name for (name,) in conn.execute(select(rollups.c.event).distinct())]
    for name in names:
        if name == ALL_EVENTS:
            continue
        if kind == NUMBER:
            conn.execute(
                delete(number_rollups).where(number_rollups.c.event == number_key(name, prop))
            )
            continue
        conn.execute(
            delete(property_rollups).where(property_rollups.c.event == property_key(name, prop))
        )


Progress = Callable[[int, int], None]


def backfill(db: Database, progress: Progress | None = None) -> int:
    """Build the rollups of every tracked property that is not ready from the events stored,
    one day per transaction (resumable: a day built stays built), while writers go on; then
    mark them ready. Returns the days built. ``progress(done, total)`` follows the days."""
    with db.read() as conn:
        pending = [
            row.complete_through
            for row in conn.execute(select(tracked_properties).where(~tracked_properties.c.ready))
        ]
        if not pending:
            return 0
        start = min((d for d in pending if d is not None), default=None)
        stmt = select(rollups.c.day).distinct().where(rollups.c.event == ALL_EVENTS)
        if start is not None and all(d is not None for d in pending):
            stmt = stmt.where(rollups.c.day > start)
        days = sorted(day for (day,) in conn.execute(stmt))
    done = 0
    for day in days[:-1]:
        _build(db, day)
        done += 1
        if progress is not None:
            progress(done, len(days))
    _build(db, None)
    if progress is not None:
        progress(len(days), len(days))
    return len(days)


def _build(db: Database, last: dt.date | None) -> None:
    """In one transaction under the tracked table's lock: build each pending property's rows
    for the stored events of the days after its ``complete_through`` up to ``last`` (None: up
    to the end, and mark it ready)."""
    from ._numbers import append_summaries, build_summaries

    with db.write() as conn:
        db.dialect.lock_tracked(conn)
        pending = conn.execute(select(tracked_properties).where(~tracked_properties.c.ready))
        # Properties built up to the same day need the same events: read them once.
        by_since: dict[dt.date | None, list[Any]] = {}
        for row in pending.all():
            through = row.complete_through
            since = through + dt.timedelta(days=1) if through is not None else None
            if last is None or since is None or since <= last:
                by_since.setdefault(since, []).append(row)
        for since, rows in by_since.items():
            stored = list(_stored(conn, since, last))
            values = {row.property: dt.date.max for row in rows if row.kind == VALUES}
            numbers = [row.property for row in rows if row.kind == NUMBER]
            deltas = property_deltas(stored, Tracked(values), every_day=True)
            append_values(conn, db.dialect, deltas)
            if numbers:
                summaries = build_summaries(((d, n, p) for d, n, _, p in stored), numbers)
                append_summaries(conn, summaries)
            for row in rows:
                _mark_built(conn, row, last)


def _mark_built(conn: Connection, row: Any, last: dt.date | None) -> None:
    """Record that ``row``'s property is built through ``last`` (None: ready)."""
    conn.execute(
        update(tracked_properties)
        .where(
            tracked_properties.c.property == row.property,
            tracked_properties.c.kind == row.kind,
        )
        .values(complete_through=last, ready=last is None)
    )


def _stored(
    conn: Connection, since: dt.date | None, last: dt.date | None
) -> Iterable[tuple[dt.date, str, int, Any]]:
    """(day, event, uid, properties) of the stored events of [since, last] (open ends: None)."""
    stmt = select(events.c.timestamp, events.c.event, users_table.c.uid, events.c.properties).join(
        users_table, users_table.c.user_id == events.c.user_id
    )
    if since is not None:
        stmt = stmt.where(events.c.timestamp >= _midnight(since))
    if last is not None:
        stmt = stmt.where(events.c.timestamp < _midnight(last + dt.timedelta(days=1)))
    for stamp, name, uid, properties in conn.execute(stmt):
        yield stamp.astimezone(dt.UTC).date(), name, uid, properties


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _summed(tallies: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The events per value text of several rows of one key (a day not yet compacted)."""
    out: dict[str, int] = {}
    for counts in tallies:
        for text, count in counts.items():
            out[text] = out.get(text, 0) + count
    return out


class PropertyReader:
    """Reads of the property rollups, within one read transaction."""

    def __init__(
        self, conn: Connection, dialect: Dialect, cache: BitmapCache | None = None
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self.cache = cache
        self._tracked: Tracked | None = None

    @property
    def tracked(self) -> Tracked:
        if self._tracked is None:
            self._tracked = read_tracked(self.conn)
        return self._tracked

    def numbers(
        self, name: str, prop: str, start: dt.date, end: dt.date, *, with_values: bool = True
    ) -> dict[dt.date, Any]:
        """Per day of [start, end], the summary (``_numbers.Summary``) of the numbers of
        ``prop`` on events ``name`` (with their multisets only ``with_values``)."""
        from ._numbers import number_summaries

        cache = None if self.cache is None else self.cache.multisets
        return number_summaries(
            self.conn, name, prop, start, end, with_values=with_values, cache=cache
        )

    def _rows(
        self, name: str, prop: str, start: dt.date | None, end: dt.date
    ) -> tuple[list[tuple[int, Key]], dict[dt.date, list[int]]] | None:
        """The live rows ``(id, key)`` of ``prop`` on events ``name`` in [start, end], and
        their ids per day; None when the property is not ready."""
        if not self.tracked.ready(prop):
            return None
        table = property_rollups
        key = property_key(name, prop)
        where = [table.c.event == key, table.c.day <= end]
        if start is not None:
            where.append(table.c.day >= start)
        rows = self.conn.execute(select(table.c.id, table.c.day).where(and_(*where))).all()
        ids_by_day: dict[dt.date, list[int]] = {}
        for row_id, day in rows:
            ids_by_day.setdefault(day, []).append(row_id)
        return [(row_id, (day, key)) for row_id, day in rows], ids_by_day

    def tallies(
        self, name: str, prop: str, start: dt.date | None, end: dt.date
    ) -> list[tuple[dt.date, Mapping[str, int]]] | None:
        """Per day of [start, end] that has any, the events per value text of ``prop`` on
        events ``name`` (the cache's own mappings: read them, never change them): a few
        kilobytes a month where the bitmaps take megabytes. None: the rollups cannot answer
        (the property is not ready, or a value was too long to keep)."""
        rows = self._rows(name, prop, start, end)
        if rows is None:
            return None
        keyed, ids_by_day = rows
        tallies = self._tallies(keyed)
        out: list[tuple[dt.date, Mapping[str, int]]] = []
        for day, ids in ids_by_day.items():
            counts = tallies[ids[0]] if len(ids) == 1 else _summed(tallies[i] for i in ids)
            if TOO_LONG in counts:
                return None
            out.append((day, counts))
        return out

    def values(
        self, name: str, prop: str, start: dt.date | None, end: dt.date
    ) -> dict[str, dict[dt.date, tuple[int, AbstractBitMap]]] | None:
        """Per value text of ``prop`` on events ``name`` in [start, end], per day, (events,
        users bitmap). None: the rollups cannot answer (see :meth:`tallies`)."""
        rows = self._rows(name, prop, start, end)
        if rows is None:
            return None
        keyed, ids_by_day = rows
        out: dict[str, dict[dt.date, tuple[int, AbstractBitMap]]] = {}
        packs = self._packs(keyed)
        for day, ids in ids_by_day.items():
            found = packs[ids[0]] if len(ids) == 1 else merge(packs[i] for i in ids)
            for text, (count, bitmap) in found.items():
                if text == TOO_LONG:
                    return None
                out.setdefault(text, {})[day] = (count, bitmap)
        return out

    def _packs(self, rows: Sequence[tuple[int, Key]]) -> dict[int, Values]:
        """The values of rows ``(id, key)`` by id: cached, the rest in one read (``rows``
        hold every live row of their keys)."""
        return load_rows(
            rows,
            None if self.cache is None else self.cache.values,
            lambda ids: self.dialect.fetch_blobs(self.conn, property_rollups, "users", ids),
            lambda blob: (unpack_frozen(blob), len(blob)),
        )

    def _tallies(self, rows: Sequence[tuple[int, Key]]) -> dict[int, dict[str, int]]:
        """The events per value text of rows ``(id, key)`` by id, from their ``counts``:
        cached, the rest in one read (see :meth:`_packs`)."""
        table = property_rollups

        def fetch(ids: list[int]) -> Iterator[tuple[int, bytes]]:
            older: list[int] = []
            for row_id, blob in self.dialect.fetch_blobs(self.conn, table, "counts", ids):
                if blob is None:
                    older.append(row_id)  # appended by an older version: counts from the values
                else:
                    yield row_id, blob
            for row_id, blob in self.dialect.fetch_blobs(self.conn, table, "users", older):
                yield row_id, tally(bytes(blob))

        return load_rows(
            rows,
            None if self.cache is None else self.cache.counts,
            fetch,
            lambda blob: (unpack_tally(blob), len(blob)),
        )


def merge_values(conn: Connection, keys: Sequence[Key]) -> int:
    """Replace the rows of each of ``keys`` that has several by one holding all their values
    (compaction's; the caller holds the keys' locks); return keys merged."""
    from ._dialect import any_of, dialect_of, rows_of_keys

    table = property_rollups
    ids: dict[Key, list[int]] = {}
    for key, (row_id,) in rows_of_keys(conn, table, keys, table.c.id):
        ids.setdefault(key, []).append(row_id)
    ids = {key: found for key, found in ids.items() if len(found) > 1}
    gone = [row_id for found in ids.values() for row_id in found]
    if not gone:
        return 0
    dialect = dialect_of(conn)
    blobs = dict(dialect.fetch_blobs(conn, table, "users", gone))
    merged = []
    for (day, name), found in sorted(ids.items()):
        values = merge(unpack(blobs[row_id]) for row_id in found)
        merged.append((day, name, events_of(values), pack(values)))
    conn.execute(delete(table).where(any_of(conn, table.c.id, gone)))
    dialect.append_rollups(conn, merged, table)
    return len(merged)
