"""Data rights: export a user's events, and erase them with their share of every rollup.

Erasing removes the user's events and takes the user out of every rollup bitmap and count, so
afterwards every report equals one computed as if the user had never sent anything. The row
mapping the user's id to its uid stays (it holds nothing but that id): uids must never change,
or writers that cached the mapping would split one person into two.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, delete, insert, select

from ._database import Database
from ._dialect import dialect_of
from ._numbers import number_key, rebuild_keys
from ._packs import events_of, merge, pack, unpack
from ._persons import forget_persons, person_uids, uid_of, user_ids_of
from ._properties import Tracked, property_key, read_tracked, value_text
from ._rollups import Key
from ._tables import ALL_EVENTS, PERSON_EVENTS, events, property_rollups, rollups
from ._times import erase_times, micros_of

#: A property rollup key and one of its value texts.
Place = tuple[Key, str]

__all__ = ["Erasure", "erase_user", "person_ids_of", "user_events"]

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erasing a user removed."""

    user_id: str
    events: int
    rollup_keys: int


def person_ids_of(db: Database, user_id: str) -> list[str]:
    """Every distinct id of the person ``user_id`` belongs to (``[user_id]`` when unlinked)."""
    with db.read() as conn:
        uid = uid_of(conn, user_id)
        return [user_id] if uid is None else user_ids_of(conn, person_uids(conn, uid))


def user_events(db: Database, user_id: str) -> Iterator[dict[str, Any]]:
    """Every stored event of the person ``user_id`` belongs to (all its linked ids), oldest
    first, as wire-format dicts (paged reads)."""
    names = person_ids_of(db, user_id)
    after: tuple[dt.datetime, Any] | None = None
    while True:
        stmt = (
            select(events)
            .where(events.c.user_id.in_(names))
            .order_by(events.c.timestamp, events.c.event_id)
            .limit(_PAGE)
        )
        if after is not None:
            stamp, event_id = after
            stmt = stmt.where(
                (events.c.timestamp > stamp)
                | ((events.c.timestamp == stamp) & (events.c.event_id > event_id))
            )
        with db.read() as conn:
            rows = conn.execute(stmt).all()
        for row in rows:
            yield {
                "event_id": str(row.event_id),
                "event": row.event,
                "user_id": row.user_id,
                "timestamp": row.timestamp.isoformat().replace("+00:00", "Z"),
                "properties": row.properties,
                "received_at": row.received_at.isoformat().replace("+00:00", "Z"),
            }
        if len(rows) < _PAGE:
            return
        after = (rows[-1].timestamp, rows[-1].event_id)


def erase_user(db: Database, user_id: str) -> Erasure:
    """Erase the whole person ``user_id`` belongs to, in one transaction: every linked id's
    events, its person properties and links, and its place in every rollup.

    Rollup rows are immutable (bitmaps are cached by row id), so each affected key's rows are
    replaced by one merged row without the user. Keys are found from the user's raw events
    (which also give the event counts to subtract) and then by a sweep of every bitmap for the
    user's uid, which catches days whose raw events an operator has already dropped: there the
    user leaves the distinct counts, while the event counts, unknowable without the raw rows,
    stay as they are.

    Concurrency (PostgreSQL; SQLite runs one writer at a time): the keys' rewrite locks are
    taken, in one order, before their rows are read, so no other erasure or compaction can
    replace a row between our read and our rewrite. Writers only append rows and take no
    lock; an event of this user committed after the DELETE below stays stored, and so does
    the user in the rollups of its key (the check of remaining events runs after the reads).
    """
    with db.write() as conn:
        # As a writer does: the tracked properties first (a backfill step waits for us or we
        # for it), then the persons lock (merges take it too): no id can join the person.
        tracked = read_tracked(conn, db.dialect)
        db.dialect.lock_persons(conn)
        uid = uid_of(conn, user_id)
        if uid is None:
            return Erasure(user_id, 0, 0)
        uids = person_uids(conn, uid)
        names = user_ids_of(conn, uids)
        removed: Counter[Key] = Counter()  # per rollup key, events deleted
        values: dict[Key, Counter[str]] = {}  # per property key, events deleted per value
        numbers: set[Key] = set()  # number rollup keys to rebuild from the events left
        deleted = 0
        by_name = dict(zip(names, uids, strict=True))
        # Per (day, event) key, the (uid, µs) of each deleted event: its event-times record.
        times: dict[Key, Counter[tuple[int, int]]] = {}
        for stamp, name, properties, user in conn.execute(
            delete(events)
            .where(events.c.user_id.in_(names))
            .returning(events.c.timestamp, events.c.event, events.c.properties, events.c.user_id)
        ):
            deleted += 1
            if name not in PERSON_EVENTS:
                key = (stamp.astimezone(dt.UTC).date(), name)
                times.setdefault(key, Counter())[(by_name[user], micros_of(stamp))] += 1
            keys, places = _keys_of(stamp, name, properties, tracked)
            removed.update(keys)
            for key, text in places:
                values.setdefault(key, Counter())[text] += 1
            day = stamp.astimezone(dt.UTC).date()
            if name not in PERSON_EVENTS:
                numbers.update(
                    (day, number_key(name, prop))
                    for prop in tracked.numbers
                    if tracked.covers_number(prop, day)
                )
        everyone = BitMap(uids)
        for key in _keys_holding(conn, everyone):
            removed.setdefault(key, 0)
        for key in _value_keys_holding(conn, everyone):
            values.setdefault(key, Counter())
        db.dialect.lock_rollup_keys(conn, sorted(set(removed) | set(values) | numbers))
        # Statements after the locks: they see every row committed by previous holders.
        rows = {key: _rows_of(conn, key) for key in sorted(removed)}
        value_rows = {key: _value_rows_of(conn, key) for key in sorted(values)}
        # After the reads: an event of the person stored by a writer that committed since the
        # DELETE keeps its id in its keys (its rollup row may be among the rows just read).
        kept, kept_values = (
            ({}, {}) if db.dialect.single_writer else _still_stored(conn, names, tracked)
        )
        for key in sorted(removed):
            keep = {by_name[name] for name in kept.get(key, ())}
            _rewrite_without(conn, key, rows[key], set(uids) - keep, removed[key])
            if key[1] != ALL_EVENTS:
                erase_times(conn, key, set(uids) - keep, times.get(key, Counter()))
        for key in sorted(values):
            keep_of = {
                text: BitMap(by_name[name] for name in found)
                for (place, text), found in kept_values.items()
                if place == key
            }
            _rewrite_values_without(conn, key, value_rows[key], everyone, keep_of, values[key])
        rebuild_keys(conn, numbers, db.dialect.single_writer)
        forget_persons(conn, db.dialect, uids)
    return Erasure(user_id, deleted, len(removed) + len(values))


def _keys_of(
    stamp: dt.datetime, name: str, properties: Any, tracked: Tracked
) -> tuple[list[Key], list[Place]]:
    """The rollup keys, and the property rollup keys with the value, that counted one stored
    event."""
    if name in PERSON_EVENTS:
        return [], []  # never in a rollup (see PERSON_EVENTS): nothing to take out, nothing kept
    day = stamp.astimezone(dt.UTC).date()
    found = properties if isinstance(properties, dict) else {}
    places = [
        ((day, property_key(name, prop)), value_text(found.get(prop)))
        for prop in tracked.through
        if tracked.covers(prop, day)
    ]
    return [(day, name), (day, ALL_EVENTS)], places


def _still_stored(
    conn: Connection, names: list[str], tracked: Tracked
) -> tuple[dict[Key, set[str]], dict[Place, set[str]]]:
    """Keys and property values of the person's events in ``events`` now, with whose
    (normally none: a second read, only where another writer may have committed since the
    DELETE)."""
    stmt = select(events.c.timestamp, events.c.event, events.c.properties, events.c.user_id).where(
        events.c.user_id.in_(names)
    )
    keys: dict[Key, set[str]] = {}
    places: dict[Place, set[str]] = {}
    for stamp, name, properties, user in conn.execute(stmt):
        found_keys, found_places = _keys_of(stamp, name, properties, tracked)
        for key in found_keys:
            keys.setdefault(key, set()).add(user)
        for place in found_places:
            places.setdefault(place, set()).add(user)
    return keys, places


def _keys_holding(conn: Connection, uids: BitMap) -> set[Key]:
    """Rollup keys whose bitmaps hold any of ``uids`` (a full read of the rollups: erasure is
    rare)."""
    found = set()
    for day, name, blob in conn.execute(select(rollups.c.day, rollups.c.event, rollups.c.users)):
        if BitMap.deserialize(blob).intersect(uids):
            found.add((day, name))
    return found


def _value_keys_holding(conn: Connection, uids: BitMap) -> set[Key]:
    """Property rollup keys any value of which holds any of ``uids`` (a full read)."""
    table = property_rollups
    found = set()
    for day, key, blob in conn.execute(select(table.c.day, table.c.event, table.c.users)):
        if any(users.intersect(uids) for _, users in unpack(blob).values()):
            found.add((day, key))
    return found


def _rows_of(conn: Connection, key: Key) -> list[tuple[int, int]]:
    """(id, events) of a rollup key's rows; bitmaps are read one key at a time when
    rewriting."""
    day, name = key
    stmt = select(rollups.c.id, rollups.c.events).where(
        rollups.c.day == day, rollups.c.event == name
    )
    return [(row_id, count) for row_id, count in conn.execute(stmt)]


def _rewrite_without(
    conn: Connection, key: Key, rows: list[tuple[int, int]], uids: set[int], count: int
) -> None:
    if not rows:
        return
    ids = [row_id for row_id, _ in rows]
    blobs = conn.execute(select(rollups.c.users).where(rollups.c.id.in_(ids))).scalars()
    merged = BitMap.union(*(BitMap.deserialize(blob) for blob in blobs))
    merged -= BitMap(uids)
    merged.run_optimize()
    remaining = sum(events for _, events in rows) - count
    conn.execute(delete(rollups).where(rollups.c.id.in_(ids)))
    if remaining > 0 and merged:
        day, name = key
        conn.execute(
            insert(rollups).values(day=day, event=name, events=remaining, users=merged.serialize())
        )


def _value_rows_of(conn: Connection, key: Key) -> list[tuple[int, bytes]]:
    """(id, values) of a property rollup key's rows."""
    day, name = key
    table = property_rollups
    stmt = select(table.c.id, table.c.users).where(table.c.day == day, table.c.event == name)
    return [(row_id, blob) for row_id, blob in conn.execute(stmt)]


def _rewrite_values_without(
    conn: Connection,
    key: Key,
    rows: list[tuple[int, bytes]],
    uids: BitMap,
    keep: dict[str, BitMap],
    removed: Counter[str],
) -> None:
    """Replace a property key's rows by one without ``uids`` in any value (but the ``keep``
    of a value, whose events a writer stored beside the erasure) and without the ``removed``
    events of each value; a value left with no event or no user is gone."""
    if not rows:
        return
    left: dict[str, tuple[int, BitMap]] = {}
    for text, (count, users) in merge(unpack(blob) for _, blob in rows).items():
        users -= uids - keep.get(text, BitMap())
        remaining = count - removed[text]
        if remaining > 0 and users:
            left[text] = (remaining, users)
    table = property_rollups
    conn.execute(delete(table).where(table.c.id.in_([row_id for row_id, _ in rows])))
    if left:
        day, name = key
        # The dialect's append, which gives the row its counts as every writer's row gets them.
        dialect_of(conn).append_rollups(conn, [(day, name, events_of(left), pack(left))], table)
