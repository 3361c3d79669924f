"""Property rollups: each value of a tracked event property, per day and event, as a count and
a bitmap of users, so insights filtered or broken down by that property never read raw events.

Which properties are tracked is the operator's choice (``EVANA_INSIGHT_PROPERTIES``): a rollup
per distinct value is cheap for a property of a few hundred values (plan, country, browser) and
ruinous for one of millions (a URL, an amount), which insights read from raw events instead.

The rows live in ``property_rollups``, keyed like ``rollups`` by (day, key) with the key
"<event>\\x1f<property>\\x1f<value as JSON>", so compaction, erasure and the bitmap cache treat
both tables alike. The property and the value hold no raw U+001F (property names are checked;
JSON escapes control characters), so a key splits from the right without ambiguity even when
the event name holds one.

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
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyroaring import AbstractBitMap
from sqlalchemy import Connection, and_, delete, insert, select, update

from evana._settings import check_property_name

from ._rollups import Delta, Key, RollupStore, write_deltas
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

    from ._bitmaps import BitmapCache
    from ._database import Database

__all__ = [
    "MAX_VALUE_LENGTH",
    "Tracked",
    "backfill",
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
    """
    from ._dialect import json_text  # the dialects import this module's users

    text = MISSING if value is None else json_text(value)
    return text if len(text) <= MAX_VALUE_LENGTH else TOO_LONG


def property_key(event: str, prop: str, text: str) -> str:
    """The rollup key of one value of one property of one event name."""
    return f"{event}{SEP}{prop}{SEP}{text}"


def split_key(key: str) -> tuple[str, str, str]:
    """(event, property, value text) of a property rollup key.

    >>> split_key(property_key("a\\x1fb", "plan", '"pro"'))
    ('a\\x1fb', 'plan', '"pro"')
    """
    name, prop, text = key.rsplit(SEP, 2)
    return name, prop, text


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


def read_tracked(conn: Connection, dialect: Any = None) -> Tracked:
    """The tracked properties. With a ``dialect`` (a writer's read), first take the shared
    lock that holds off a backfill step until this transaction ends."""
    if dialect is not None:
        dialect.lock_tracked(conn, shared=True)
    stmt = select(
        tracked_properties.c.property,
        tracked_properties.c.kind,
        tracked_properties.c.complete_through,
        tracked_properties.c.ready,
    )
    found: dict[str, dict[str, dt.date]] = {VALUES: {}, NUMBER: {}}
    for prop, kind, last, ready in conn.execute(stmt):
        if ready or last is not None:  # a property no day of which is built yet covers none
            found.setdefault(kind, {})[prop] = dt.date.max if ready else last
    return Tracked(found[VALUES], found[NUMBER])


def property_deltas(
    rows: Iterable[tuple[dt.date, str, int, Any]], tracked: Tracked, *, every_day: bool = False
) -> dict[Key, Delta]:
    """Deltas of the property rollups from newly stored events (day, event, uid, properties):
    per tracked property whose rollups cover the day (``every_day``: all of them, the
    backfill's case), the event's value, or ``null`` when it has none.

    Events are grouped by (day, event) first and each property's values are told apart by
    (type, value) (``1``, ``1.0`` and ``True`` are equal in Python, not in JSON), so a value's
    JSON text is made once per group, not once per event.
    """
    props = list(tracked.through)
    if not props:
        return {}
    groups: defaultdict[tuple[dt.date, str], list[tuple[int, Any]]] = defaultdict(list)
    for day, name, uid, properties in rows:
        if name not in PERSON_EVENTS:
            groups[(day, name)].append((uid, properties if isinstance(properties, dict) else {}))
    out: dict[Key, Delta] = {}
    for (day, name), items in groups.items():
        for prop in props:
            if not every_day and not tracked.covers(prop, day):
                continue
            # Distinct (type, value) keys have distinct JSON texts, so each key is new here.
            for value, uids in _by_value(items, prop):
                delta = out[(day, property_key(name, prop, value_text(value)))] = Delta()
                delta.events, delta.uids = len(uids), uids
    return out


def _by_value(items: list[tuple[int, Any]], prop: str) -> Iterable[tuple[Any, list[int]]]:
    """(value, uids) of each distinct value of ``prop`` among (uid, properties) items."""
    by_value: dict[Any, tuple[Any, list[int]]] = {}
    for uid, found in items:
        value = found.get(prop)
        try:
            seen = by_value.get((value.__class__, value))
        except TypeError:  # a list or an object: keyed by its JSON text
            seen = by_value.setdefault(("json", value_text(value)), (value, []))
        else:
            if seen is None:
                seen = by_value[(value.__class__, value)] = (value, [])
        seen[1].append(uid)
    return by_value.values()


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
    write_deltas(conn, dialect, deltas, property_rollups)


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
        low, high = _key_range(name, prop)
        found = select(property_rollups.c.id, property_rollups.c.event).where(
            property_rollups.c.event >= low, property_rollups.c.event < high
        )
        # The range may hold keys of an event whose own name holds U+001F: split to be sure.
        ids = [i for i, key in conn.execute(found) if split_key(key)[:2] == (name, prop)]
        for start in range(0, len(ids), 5000):
            conn.execute(
                delete(property_rollups).where(property_rollups.c.id.in_(ids[start : start + 5000]))
            )


def _key_range(name: str, prop: str) -> tuple[str, str]:
    """Keys of ``name``'s ``prop`` are in [low, high) by code point: value texts start with a
    printable character, never U+001F."""
    low = property_key(name, prop, "")
    return low, low[:-1] + "\x20"


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
            write_deltas(conn, db.dialect, deltas, property_rollups)
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


class PropertyReader:
    """Reads of the property rollups, within one read transaction."""

    def __init__(
        self, conn: Connection, dialect: RollupStore, cache: BitmapCache | None = None
    ) -> None:
        from ._rollups import RollupReader

        self.conn = conn
        self.rollups = RollupReader(conn, dialect, cache, property_rollups)
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

    def values(
        self, name: str, prop: str, start: dt.date | None, end: dt.date, *, users: bool
    ) -> dict[str, dict[dt.date, tuple[int, AbstractBitMap | None]]] | None:
        """Per value text of ``prop`` on events ``name`` in [start, end], per day, (events,
        users bitmap or None when ``users`` is False). None: the rollups cannot answer (the
        property is not ready, or a value was too long to keep)."""
        if not self.tracked.ready(prop):
            return None
        low, high = _key_range(name, prop)
        table = property_rollups
        where = [table.c.event >= low, table.c.event < high, table.c.day <= end]
        if start is not None:
            where.append(table.c.day >= start)
        # One read: the rows' ids for the bitmaps, their counts added up here.
        rows = self.conn.execute(
            select(table.c.id, table.c.day, table.c.event, table.c.events).where(and_(*where))
        ).all()
        counts: dict[Key, int] = {}
        for _, day, key, count in rows:
            counts[(day, key)] = counts.get((day, key), 0) + int(count)
        bitmaps = self.rollups.bitmaps_by_key((i, d, k) for i, d, k, _ in rows) if users else {}
        out: dict[str, dict[dt.date, tuple[int, AbstractBitMap | None]]] = {}
        for (day, key), count in counts.items():
            key_name, key_prop, text = split_key(key)
            if key_name != name or key_prop != prop:
                continue
            if text == TOO_LONG:
                return None
            out.setdefault(text, {})[day] = (count, bitmaps.get((day, key)))
        return out
