"""Persons: distinct ids linked into one person, read as a map from uid to person number.

A person's number (``pid``) is the smallest uid among its distinct ids, so it depends only on
the set of links, never on their order or repetition. Rollups keep the uids the events were
written with; reports map them through :class:`PersonMap` (``translate``), so a link counts
retroactively on every day without rewriting any rollup: a merge touches one row per distinct
id of the two persons, whatever their history, and never races ingest or compaction.

Merges and person erasures take one lock (``Dialect.lock_persons``), so two merges of the same
ids on two workers cannot both read the old numbers; readers need no lock (see
:meth:`PersonDirectory.snapshot`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap
from sqlalchemy import Connection, bindparam, delete, func, select, update

from evana.schema import MAX_NAME_LENGTH

from ._tables import events, person_ids, person_properties, person_state, users

if TYPE_CHECKING:
    from ._database import Database
    from ._dialect import Dialect

__all__ = [
    "PersonChanges",
    "PersonDirectory",
    "PersonMap",
    "PersonRecord",
    "PropertyWrite",
    "count_links",
    "forget_persons",
    "link_ids",
    "link_stored_events",
    "merged_properties",
    "person_uids",
    "read_person",
    "uid_of",
    "user_ids_of",
    "write_properties",
]

_CHUNK = 5000
_STATE_ROW = 1
#: How a property value ranks in a merge: (is a $set, at, event id, value).
_Rank = tuple[int, dt.datetime, str, Any]


class PersonMap:
    """A snapshot of uid → pid for the uids that belong to a person of several ids.

    >>> persons = PersonMap({5: 2, 9: 2})
    >>> persons.canonical(5), persons.canonical(7)
    (2, 7)
    >>> sorted(persons.translate(BitMap([2, 5, 7, 9])))
    [2, 7]
    """

    def __init__(
        self,
        merged: Mapping[int, int] | None = None,
        properties: Mapping[int, dict[str, Any]] | None = None,
        *,
        load_properties: Any = None,
    ) -> None:
        #: uid → pid for every uid that is not its person's number.
        self.merged: dict[int, int] = {u: p for u, p in (merged or {}).items() if u != p}
        self._merged_bitmap = BitMap(self.merged)
        size = (max(self.merged) + 1) if self.merged else 0
        self._lookup = np.arange(size, dtype=np.uint32)
        if self.merged:
            keys = np.fromiter(self.merged.keys(), dtype=np.uint32, count=len(self.merged))
            values = np.fromiter(self.merged.values(), dtype=np.uint32, count=len(self.merged))
            self._lookup[keys] = values
        self._properties = None if properties is None else dict(properties)
        self._load_properties = load_properties
        self._translated = _Translated()

    def with_properties(self, load: Any) -> PersonMap:
        """This map (sharing its arrays and translations), its ``properties`` read by
        ``load()`` on first use."""
        view = object.__new__(PersonMap)
        view.merged = self.merged
        view._merged_bitmap = self._merged_bitmap
        view._lookup = self._lookup
        view._properties = None
        view._load_properties = load
        view._translated = self._translated
        return view

    @property
    def properties(self) -> dict[int, dict[str, Any]]:
        """pid → the person's merged properties (only persons that have some)."""
        if self._properties is None:
            self._properties = self._load_properties() if self._load_properties else {}
        return self._properties

    def canonical(self, uid: int) -> int:
        """The person number of ``uid``."""
        return self.merged.get(uid, uid)

    def canonical_array(self, uids: np.ndarray) -> np.ndarray:
        """The person number of each uid (an array of the same length)."""
        uids = np.asarray(uids, dtype=np.uint32)
        if not self.merged:
            return uids
        out = uids.copy()
        inside = uids < len(self._lookup)
        out[inside] = self._lookup[uids[inside]]
        return out

    def translate(self, bitmap: AbstractBitMap) -> AbstractBitMap:
        """The persons of a set of uids (each person once, as its number).

        A frozen bitmap (a cached rollup row, or a cached union) is translated once per map:
        the map is replaced when persons change, and the frozen bitmap never does.
        """
        if not self.merged:
            return bitmap
        frozen = isinstance(bitmap, FrozenBitMap)
        if frozen and (known := self._translated.get(bitmap)) is not None:
            return known
        moved = bitmap & self._merged_bitmap
        if moved:
            members = np.frombuffer(moved.to_array(), dtype=np.uint32)
            persons = (bitmap - moved) | BitMap(self._lookup[members])
        else:
            persons = bitmap
        if frozen:
            self._translated.put(bitmap, FrozenBitMap(persons))
        return persons

    def persons(self, uids: Iterable[int]) -> set[int]:
        """The distinct persons of some uids."""
        return {self.canonical(uid) for uid in uids}


class _Translated:
    """Frozen bitmaps of uids and their persons under one map, by identity, bounded in bytes.

    Holding the source bitmap keeps its ``id`` from being reused while the entry lives; the
    oldest entries go first (the map itself goes at the next merge or erasure).
    """

    MAX_BYTES = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._items: dict[int, tuple[AbstractBitMap, FrozenBitMap, int]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, source: AbstractBitMap) -> FrozenBitMap | None:
        item = self._items.get(id(source))
        return item[1] if item is not None and item[0] is source else None

    def put(self, source: AbstractBitMap, persons: FrozenBitMap) -> None:
        size = persons.__sizeof__()
        with self._lock:
            if id(source) in self._items:
                return
            self._items[id(source)] = (source, persons, size)
            self._bytes += size
            while self._bytes > self.MAX_BYTES:
                _, _, dropped = self._items.pop(next(iter(self._items)))
                self._bytes -= dropped


class PersonDirectory:
    """Where reports get the current :class:`PersonMap`, kept fresh from the database.

    A reader reads ``person_state`` (epoch, resets) and then only the ``person_ids`` rows
    changed after the epoch it already holds. That is exact without locks: a merge updates its
    rows and bumps the epoch in one transaction, under the persons lock, so every row tagged
    with an epoch ≤ E is committed once E is visible, and rows of later epochs are skipped
    until the next read. An erasure deletes rows, which no epoch can show: it bumps ``resets``
    and readers read the whole map again.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._seen: tuple[int, int] = (-1, -1)
        self._merged: dict[int, int] = {}
        self._map = PersonMap()

    def snapshot(self, conn: Connection) -> PersonMap:
        """The persons as of ``conn``'s read (links committed before it began)."""
        epoch, resets = _state(conn)
        with self._lock:
            seen_epoch, seen_resets = self._seen
            if (epoch, resets) != self._seen:
                stmt = select(person_ids.c.uid, person_ids.c.pid).where(person_ids.c.epoch <= epoch)
                if resets == seen_resets and epoch > seen_epoch:
                    merged = dict(self._merged)
                    stmt = stmt.where(person_ids.c.epoch > seen_epoch)
                else:
                    merged = {}
                for uid, pid in conn.execute(stmt):
                    if uid == pid:
                        merged.pop(uid, None)
                    else:
                        merged[uid] = pid
                self._merged = merged
                self._map = PersonMap(merged)
                self._seen = (epoch, resets)
            current = self._map
        # Properties are read only if a query asks for them: in the same read when it is still
        # open (one snapshot; and in-memory SQLite has just one connection), else on their own.
        return current.with_properties(lambda: self._properties(conn, current))

    def _properties(self, conn: Connection, persons: PersonMap) -> dict[int, dict[str, Any]]:
        if not conn.closed:
            return merged_properties(conn, persons)
        with self.db.read() as fresh:
            return merged_properties(fresh, persons)


#: Read by every report, built once (see ``_keys._BY_ID``).
_STATE = select(person_state.c.epoch, person_state.c.resets).where(person_state.c.id == _STATE_ROW)


def _state(conn: Connection) -> tuple[int, int]:
    row = conn.execute(_STATE).first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def _bump(conn: Connection, dialect: Dialect, *, reset: bool = False) -> int:
    """Advance the state row (inside the persons lock) and return the new epoch."""
    conn.execute(
        dialect.insert(person_state)
        .values(id=_STATE_ROW, epoch=0, resets=0)
        .on_conflict_do_nothing()
    )
    changes: dict[str, Any] = {"epoch": person_state.c.epoch + 1}
    if reset:
        changes["resets"] = person_state.c.resets + 1
    conn.execute(update(person_state).where(person_state.c.id == _STATE_ROW).values(**changes))
    return _state(conn)[0]


def _pids(conn: Connection, uids: Collection[int]) -> tuple[dict[int, int], set[int]]:
    """The pid of each uid (a uid of no multi-id person is its own), and the uids that have a
    row (every person number of a row has one too: a merge stores its survivor)."""
    found = {uid: uid for uid in uids}
    present: set[int] = set()
    ordered = sorted(uids)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        stmt = select(person_ids.c.uid, person_ids.c.pid).where(person_ids.c.uid.in_(chunk))
        for uid, pid in conn.execute(stmt):
            found[uid] = pid
            present.update((uid, pid))
    return found, present


def link_ids(conn: Connection, dialect: Dialect, pairs: Iterable[tuple[int, int]]) -> bool:
    """Link pairs of uids into persons, in the caller's transaction; True if anything changed.

    Links already in force (the common case: an SDK identifies on every page load) are found
    without the lock, and change nothing: persons only ever grow until erased.
    """
    wanted = [(a, b) for a, b in pairs if a != b]
    if not wanted:
        return False
    involved = {uid for pair in wanted for uid in pair}
    pids, _ = _pids(conn, involved)
    if all(pids[a] == pids[b] for a, b in wanted):
        return False
    dialect.lock_persons(conn)
    # Again, under the lock: another merge may have committed meanwhile.
    pids, present = _pids(conn, involved)
    parent: dict[int, int] = {}

    def root(pid: int) -> int:
        while parent.get(pid, pid) != pid:
            pid = parent[pid]
        return pid

    for a, b in wanted:
        ra, rb = root(pids[a]), root(pids[b])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    if not parent:
        return False
    epoch = _bump(conn, dialect)
    # Every id of a person whose number changes, read once, then rewritten in one pipelined
    # statement: a batch's merges cost a few round trips, not one per person.
    moved = {uid: root(pid) for uid, pid in _members(conn, parent)}
    if moved:
        conn.execute(
            update(person_ids)
            .where(person_ids.c.uid == bindparam("member"))
            .values(pid=bindparam("person"), epoch=epoch),
            [{"member": uid, "person": pid} for uid, pid in sorted(moved.items())],
        )
    # Ids (and person numbers) not yet in the table join it under their final number.
    everyone = involved | set(parent) | {root(pid) for pid in parent}
    rows = [
        {"uid": uid, "pid": root(pids.get(uid, uid)), "epoch": epoch}
        for uid in sorted(everyone - present)
    ]
    if rows:
        conn.execute(person_ids.insert(), rows)
    return True


def _members(conn: Connection, pids: Collection[int]) -> Iterable[tuple[int, int]]:
    """(uid, pid) of every id in the table belonging to one of ``pids``."""
    ordered = sorted(pids)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        stmt = select(person_ids.c.uid, person_ids.c.pid).where(person_ids.c.pid.in_(chunk))
        yield from ((uid, pid) for uid, pid in conn.execute(stmt))


@dataclass(frozen=True, slots=True)
class PropertyWrite:
    """One ``$set`` (kind ``set``) or ``$set_once`` (kind ``set_once``) of one property."""

    uid: int
    key: str
    kind: str
    value: Any
    at: dt.datetime
    event_id: str

    def beats(self, other: PropertyWrite) -> bool:
        """Whether this write wins over ``other`` of the same (uid, key, kind)."""
        mine, theirs = (self.at, self.event_id), (other.at, other.event_id)
        return mine > theirs if self.kind == "set" else mine < theirs


def write_properties(conn: Connection, dialect: Dialect, writes: Iterable[PropertyWrite]) -> None:
    """Keep the winning value of each (uid, key, kind), whatever order writes arrive in."""
    best: dict[tuple[int, str, str], PropertyWrite] = {}
    for write in writes:
        slot = (write.uid, write.key, write.kind)
        if slot not in best or write.beats(best[slot]):
            best[slot] = write
    for kind in ("set", "set_once"):
        rows = [
            {
                "uid": w.uid,
                "key": w.key,
                "kind": w.kind,
                "value": w.value,
                "at": w.at,
                "event_id": w.event_id,
            }
            for slot, w in sorted(best.items())
            if w.kind == kind
        ]
        if not rows:
            continue
        stmt = dialect.insert(person_properties)
        later = (stmt.excluded.at > person_properties.c.at) | (
            (stmt.excluded.at == person_properties.c.at)
            & (stmt.excluded.event_id > person_properties.c.event_id)
        )
        earlier = (stmt.excluded.at < person_properties.c.at) | (
            (stmt.excluded.at == person_properties.c.at)
            & (stmt.excluded.event_id < person_properties.c.event_id)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["uid", "key", "kind"],
            set_={
                "value": stmt.excluded.value,
                "at": stmt.excluded.at,
                "event_id": stmt.excluded.event_id,
            },
            where=later if kind == "set" else earlier,
        )
        for start in range(0, len(rows), _CHUNK // 10):
            conn.execute(stmt, rows[start : start + _CHUNK // 10])


def merged_properties(
    conn: Connection, persons: PersonMap, uids: Collection[int] | None = None
) -> dict[int, dict[str, Any]]:
    """pid → properties, merged over each person's ids (of ``uids`` only, when given).

    Any ``$set`` beats every ``$set_once`` of the same property (``$set_once`` only fills what
    was never set); among ``$set`` the latest wins, among ``$set_once`` the earliest.
    """
    stmt = select(
        person_properties.c.uid,
        person_properties.c.key,
        person_properties.c.kind,
        person_properties.c.value,
        person_properties.c.at,
        person_properties.c.event_id,
    )
    if uids is not None:
        stmt = stmt.where(person_properties.c.uid.in_(sorted(uids)))
    best: dict[tuple[int, str], _Rank] = {}
    for uid, key, kind, value, at, event_id in conn.execute(stmt):
        slot = (persons.canonical(uid), key)
        # Rank: a set beats a set_once; then latest set / earliest set_once.
        candidate = (1 if kind == "set" else 0, at, event_id, value)
        held = best.get(slot)
        if held is None or _wins(candidate, held):
            best[slot] = candidate
    out: dict[int, dict[str, Any]] = {}
    for (pid, key), (_, _, _, value) in best.items():
        out.setdefault(pid, {})[key] = value
    return out


def _wins(
    candidate: tuple[int, dt.datetime, str, Any], held: tuple[int, dt.datetime, str, Any]
) -> bool:
    if candidate[0] != held[0]:
        return candidate[0] > held[0]
    if candidate[0] == 1:
        return (candidate[1], candidate[2]) > (held[1], held[2])
    return (candidate[1], candidate[2]) < (held[1], held[2])


def person_uids(conn: Connection, uid: int) -> list[int]:
    """Every uid of the person ``uid`` belongs to (``uid`` alone when it is linked to none)."""
    pid = conn.execute(select(person_ids.c.pid).where(person_ids.c.uid == uid)).scalar()
    if pid is None:
        return [uid]
    return sorted(conn.execute(select(person_ids.c.uid).where(person_ids.c.pid == pid)).scalars())


def uid_of(conn: Connection, user_id: str) -> int | None:
    """The uid of a distinct id, or None for an id never seen."""
    return conn.execute(select(users.c.uid).where(users.c.user_id == user_id)).scalar()


def user_ids_of(conn: Connection, uids: Sequence[int]) -> list[str]:
    """The distinct ids of some uids, in uid order."""
    stmt = select(users.c.user_id).where(users.c.uid.in_(sorted(uids))).order_by(users.c.uid)
    return list(conn.execute(stmt).scalars())


def forget_persons(conn: Connection, dialect: Dialect, uids: Collection[int]) -> None:
    """Delete the person rows and properties of ``uids`` (an erasure; under the persons lock)."""
    ordered = sorted(uids)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        conn.execute(delete(person_ids).where(person_ids.c.uid.in_(chunk)))
        conn.execute(delete(person_properties).where(person_properties.c.uid.in_(chunk)))
    _bump(conn, dialect, reset=True)


def count_links(conn: Connection) -> int:
    """How many distinct ids belong to a person of several ids (for metrics and tests)."""
    return int(conn.execute(select(func.count()).select_from(person_ids)).scalar_one())


class PersonChanges:
    """The links and person properties a batch of events carries (DESIGN.md "Persons").

    >>> import uuid; when = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    >>> from evana.server._batch import NormalizedEvent
    >>> ev = NormalizedEvent(uuid.uuid4(), "$identify", "u1", when,
    ...                      {"$anon_distinct_id": "anon", "$set": {"plan": "pro"}}, when)
    >>> changes = PersonChanges.of([ev])
    >>> changes.other_ids, changes.pairs({"u1": 1, "anon": 2})
    (['anon'], [(1, 2)])
    >>> [(w.key, w.kind, w.value) for w in changes.property_writes({"u1": 1, "anon": 2})]
    [('plan', 'set', 'pro')]
    """

    def __init__(self) -> None:
        self.links: list[tuple[str, str]] = []
        self.properties: list[tuple[str, str, str, Any, dt.datetime, str]] = []

    @classmethod
    def of(cls, rows: Iterable[Any]) -> PersonChanges:
        """Read links (``$identify``'s ``$anon_distinct_id``, ``$create_alias``'s ``alias``)
        and ``$set``/``$set_once`` objects from any event's properties."""
        changes = cls()
        for row in rows:
            props = row.properties
            if not props:
                continue
            other = None
            if row.event == "$identify":
                other = _distinct_id(props.get("$anon_distinct_id"))
            elif row.event == "$create_alias":
                other = _distinct_id(props.get("alias"))
            if other is not None and other != row.user_id:
                changes.links.append((row.user_id, other))
            for field, kind in (("$set", "set"), ("$set_once", "set_once")):
                values = props.get(field)
                if isinstance(values, dict):
                    event_id = str(row.event_id)
                    for key, value in values.items():
                        # Longer names than an event's cannot be a key of the table; the
                        # event itself, with the property, is stored all the same.
                        if 0 < len(key) <= MAX_NAME_LENGTH:
                            changes.properties.append(
                                (row.user_id, key, kind, value, row.timestamp, event_id)
                            )
        return changes

    @property
    def other_ids(self) -> list[str]:
        """Distinct ids named by links (they need uids too, even if they never sent events)."""
        return sorted({other for _, other in self.links})

    def pairs(self, uids: Mapping[str, int]) -> list[tuple[int, int]]:
        """The links as pairs of uids."""
        return [(uids[a], uids[b]) for a, b in self.links]

    def property_writes(self, uids: Mapping[str, int]) -> list[PropertyWrite]:
        """The property writes, by uid."""
        return [
            PropertyWrite(uids[user], key, kind, value, at, event_id)
            for user, key, kind, value, at, event_id in self.properties
        ]


def _distinct_id(value: Any) -> str | None:
    """A linked id as PostHog takes it: text (numbers stringified), 1-200 characters."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_NAME_LENGTH and "\x00" not in value:
        return value
    return None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A person as ``GET /v1/persons/{id}`` shows it."""

    distinct_ids: list[str]
    properties: dict[str, Any]
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None


def read_person(db: Database, user_id: str) -> PersonRecord | None:
    """The person ``user_id`` belongs to; None when nothing of it is stored (never seen, or
    erased)."""
    with db.read() as conn:
        uid = uid_of(conn, user_id)
        if uid is None:
            return None
        uids = person_uids(conn, uid)
        names = user_ids_of(conn, uids)
        first, last = conn.execute(
            select(func.min(events.c.timestamp), func.max(events.c.timestamp)).where(
                events.c.user_id.in_(names)
            )
        ).one()
        members = PersonMap({member: min(uids) for member in uids})
        properties = merged_properties(conn, members, uids).get(min(uids), {})
    if first is None and not properties and len(uids) == 1:
        return None  # an id only ever named (or erased): nothing to show
    return PersonRecord(names, properties, first, last)


def link_stored_events(conn: Connection, dialect: Dialect, page: int = 10_000) -> int:
    """Apply the links and person properties of events stored before persons existed (the
    upgrade to persons runs it once); return how many events carried some.

    Reads only the events that may carry them (the link events, and those whose properties
    mention ``$set``), a page at a time in event-id order.
    """
    from sqlalchemy import String, cast

    from ._users import user_ids

    carrying = events.c.event.in_(["$identify", "$create_alias"]) | cast(
        events.c.properties, String
    ).like('%"$set%')
    columns = (
        events.c.event_id,
        events.c.event,
        events.c.user_id,
        events.c.timestamp,
        events.c.properties,
    )
    after = None
    applied = 0
    while True:
        stmt = select(*columns).where(carrying).order_by(events.c.event_id).limit(page)
        if after is not None:
            stmt = stmt.where(events.c.event_id > after)
        rows = conn.execute(stmt).all()
        if not rows:
            return applied
        after = rows[-1].event_id
        changes = PersonChanges.of(rows)
        if changes.links or changes.properties:
            applied += len(rows)
            uids = user_ids(conn, dialect, [*(row.user_id for row in rows), *changes.other_ids])
            write_properties(conn, dialect, changes.property_writes(uids))
            link_ids(conn, dialect, changes.pairs(uids))
