"""Everything that differs between SQLite and PostgreSQL, in one place.

Each dialect class answers the same few questions: how to connect, how to insert rows while
ignoring duplicates, how to bulk-load events, how to serialise rewrites of a rollup key, and how
to hold off concurrent migrations. Every query elsewhere is plain SQLAlchemy Core.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import msgspec
import numpy as np
import psycopg
import psycopg.types.json
import pydantic_core
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Delete,
    Engine,
    Integer,
    Select,
    Table,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    exc,
    extract,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import StaticPool

from evana.errors import PermanentStorageError, StorageError, TransientStorageError
from evana.server._batch import NormalizedEvent

from ._packs import tally
from ._partitions import refuse_dropped
from ._rollups import Key, RollupRow
from ._tables import event_times, property_rollups, rollups

__all__ = ["Dialect", "classify_error", "dialect_for_url", "is_database_error", "json_text"]

#: Seconds a pooled PostgreSQL connection may sit idle and still be used without a ping.
_PING_AFTER_IDLE = 1.0

# Bound parameters per IN list (SQLite allows 32766 per statement).
_ID_CHUNK = 5000

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS evana_staging (event_id uuid, event text, user_id text,"
    " timestamp timestamptz, properties text, received_at timestamptz)"
    " ON COMMIT DELETE ROWS"
)
_COPY = (
    "COPY evana_staging (event_id, event, user_id, timestamp, properties, received_at)"
    " FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = ["uuid", "text", "text", "timestamptz", "text", "timestamptz"]
_COPY_EVENTS = (
    "COPY events (event_id, event, user_id, timestamp, properties, received_at)"
    " FROM STDIN (FORMAT BINARY)"
)
_COPY_EVENTS_TYPES = ["uuid", "text", "text", "timestamptz", "jsonb", "timestamptz"]
_ROLLUP_COLUMNS = ("day", "event", "events", "users")
#: The binary COPY type of each column a rollup append writes.
_ROLLUP_TYPES = {
    "day": "date",
    "event": "text",
    "events": "int8",
    "users": "bytea",
    "counts": "bytea",
}
_COPY_TIMES = "COPY event_times (day, event, times) FROM STDIN (FORMAT BINARY)"
_COPY_TIMES_TYPES = ["date", "text", "bytea"]
_INSERT_NEW = """
    INSERT INTO events (event_id, event, user_id, timestamp, properties, received_at)
    SELECT event_id, event, user_id, timestamp, properties::jsonb, received_at
    FROM evana_staging ORDER BY event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id"""


def _appended(
    rows: Sequence[RollupRow], table: Table
) -> tuple[tuple[str, ...], Sequence[tuple[Any, ...]]]:
    """The columns and rows that :meth:`Dialect.append_rollups` writes: a property rollup
    row gets its ``counts`` (``_packs.tally``) beside its values."""
    if table is not property_rollups:
        return _ROLLUP_COLUMNS, rows
    return (*_ROLLUP_COLUMNS, "counts"), [(*row, tally(row[3])) for row in rows]


def _sqlite_time(value: dt.datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite (naive, microseconds)."""
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat(" ", "microseconds")[:26]  # drop the "+00:00"


def _event_order(row: NormalizedEvent) -> int:
    # UUIDs order as their integers; comparing ints is several times cheaper than UUID.__lt__.
    return row.event_id.int


#: Rollup keys share this many advisory locks: an erasure of a user active on thousands of
#: keys must not take thousands of locks (PostgreSQL's lock table holds about 64 per
#: connection by default). Keys in one bucket are merely serialised together.
ROLLUP_LOCKS = 256
_ROLLUP_LOCK_SPACE = 0x65766E61  # "evna": the first int4 of the two-key advisory lock form
_PERSON_LOCK_SPACE = 0x65767072  # "evpr": merges and erasures of persons
_COMPACTOR_LOCK_SPACE = 0x65766370  # "evcp": the one process compacting rollups now
_TRACKED_LOCK_SPACE = 0x65767470  # "evtp": writers (shared) and property backfills (exclusive)


def rollup_lock_id(key: Key) -> int:
    """The advisory lock bucket of a rollup key: a stable hash of (day, event).

    >>> import datetime as dt
    >>> 0 <= rollup_lock_id((dt.date(2026, 11, 2), "signup")) < ROLLUP_LOCKS
    True
    """
    day, name = key
    digest = hashlib.blake2b(f"{day.isoformat()}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % ROLLUP_LOCKS


def json_text(value: Any) -> str:
    """Serialize like the API does (NaN/Infinity become null: PostgreSQL's jsonb refuses them)."""
    return pydantic_core.to_json(value, inf_nan_mode="null").decode()


_decode_json = msgspec.json.Decoder().decode


def json_value(data: str | bytes) -> Any:
    """Read a stored JSON document: msgspec's compiled decoder (several times the standard
    library's speed, which matters when an insight reads the properties of a million events),
    and the standard library for anything it refuses (what json_text may once have written).

    >>> json_value('{"plan": "pro", "n": [1, 2.5, null]}')
    {'plan': 'pro', 'n': [1, 2.5, None]}
    """
    try:
        return _decode_json(data)
    except msgspec.DecodeError:
        return json.loads(data)


def any_of(conn: Connection, column: ColumnElement[Any], values: Iterable[Any]) -> Any:
    """``column IN values``, on PostgreSQL as ``column = ANY(array)``: one parameter instead of
    one per value, so that a statement of a thousand ids is not a query text of a thousand
    placeholders for the driver and the server to parse at every call (compaction sends such
    statements all the time)."""
    chosen = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, chosen, type_=postgresql.ARRAY(column.type)))
    return column.in_(chosen)


def rows_of_keys(
    conn: Connection, table: Table, keys: Iterable[Key], *columns: ColumnElement[Any]
) -> Iterator[tuple[Key, tuple[Any, ...]]]:
    """The rows of rollup-like ``table`` (``day``, ``event`` columns) of the (day, event)
    ``keys``: each row's key and its ``columns``."""
    wanted = set(keys)
    stmt = select(table.c.day, table.c.event, *columns).where(
        any_of(conn, table.c.day, {day for day, _ in wanted}),
        any_of(conn, table.c.event, {name for _, name in wanted}),
    )
    for day, name, *values in conn.execute(stmt):
        if (day, name) in wanted:
            yield (day, name), tuple(values)


def delete_and_read(
    conn: Connection,
    gone: Delete,
    row_id: ColumnElement[Any],
    found: Select[Any],
    single_writer: bool,
) -> list[tuple[Any, ...]]:
    """Run ``gone`` (rows of a derived table, ``row_id`` their id) and return the rows of
    ``found`` (what they are rebuilt from).

    Where writers run beside us (PostgreSQL) both run as one statement, one snapshot: a
    writer's row is either deleted with its events read, or kept with its events not read.
    SQLite has one writer at a time, so two statements do.
    """
    if single_writer:
        conn.execute(gone)
        return [tuple(row) for row in conn.execute(found)]
    doomed = gone.returning(row_id).cte("doomed")
    stmt = found.add_columns(select(func.count()).select_from(doomed).scalar_subquery())
    return [tuple(row)[:-1] for row in conn.execute(stmt)]


class Dialect:
    """The SQLite flavour; :class:`PostgresDialect` overrides what PostgreSQL does better."""

    name: ClassVar[str] = "sqlite"
    #: Whether one write transaction runs at a time (SQLite's BEGIN IMMEDIATE): then nothing
    #: another writer commits can appear in the middle of a write.
    single_writer: ClassVar[bool] = True
    #: Isolation of report reads (None: the driver's default).
    read_isolation: ClassVar[str | None] = None

    def create_engine(self, url: str) -> Engine:
        memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # One shared connection keeps an in-memory database alive across threads (tests).
            poolclass=StaticPool if memory else None,
            json_serializer=json_text,
            json_deserializer=json_value,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are wrong for us).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a 202 means the batch survives a power cut, not only a process crash.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front: a deferred transaction that upgrades later
            # can fail with SQLITE_BUSY instead of waiting its turn.
            write = conn.get_execution_options().get("evana_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def insert(self, table: Table) -> Any:
        """An INSERT that can take ``.on_conflict_do_nothing()``."""
        return sqlite.insert(table)

    def append_rollups(
        self, conn: Connection, rows: Sequence[RollupRow], table: Table = rollups
    ) -> None:
        """Insert rollup rows (day, event, events, users bitmap) into ``table`` (``rollups``
        or ``property_rollups``, whose rows get their ``counts`` too); ids come from the
        table."""
        if rows:
            columns, written = _appended(rows, table)
            conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in written])

    def append_times(self, conn: Connection, rows: Sequence[tuple[dt.date, str, bytes]]) -> None:
        """Insert event-times rows (day, event, packed records); ids come from the table."""
        if rows:
            conn.execute(
                insert(event_times), [{"day": d, "event": e, "times": t} for d, e, t in rows]
            )

    def lock_tracked(self, conn: Connection, *, shared: bool = False) -> None:
        """Until this transaction ends, hold off writers (a backfill step or a change of the
        tracked properties), or with ``shared``, those (a writer, before it reads which
        properties are tracked); see ``_properties``. SQLite's writers run one at a time
        already."""

    def store_events(
        self, conn: Connection, rows: Sequence[NormalizedEvent]
    ) -> list[NormalizedEvent]:
        """Insert events whose ids are new (others are skipped); return those rows.

        ``rows`` must not repeat an ``event_id``. Runs in the caller's transaction.
        """
        # The driver directly, skipping SQLAlchemy's per-row processing (10x slower here). The
        # transaction holds SQLite's write lock (BEGIN IMMEDIATE), so the ids found missing
        # below are still missing when inserted: nobody else can write in between.
        raw = conn.connection.driver_connection
        assert raw is not None
        keys = [row.event_id.hex for row in rows]  # SQLAlchemy's Uuid on SQLite: 32 hex digits
        stored: set[str] = set()
        for start in range(0, len(keys), _ID_CHUNK):
            chunk = keys[start : start + _ID_CHUNK]
            marks = ",".join("?" * len(chunk))
            found = raw.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk)
            stored.update(key for (key,) in found)
        fresh = [(row, key) for row, key in zip(rows, keys, strict=True) if key not in stored]
        new = [row for row, _ in fresh]
        received = {stamp: _sqlite_time(stamp) for stamp in {row.received_at for row in new}}
        raw.executemany(
            "INSERT OR IGNORE INTO events"
            " (event_id, event, user_id, timestamp, properties, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    key,  # computed once above: UUID.hex is a Python property, not free
                    row.event,
                    row.user_id,
                    _sqlite_time(row.timestamp),
                    None if row.properties is None else json_text(row.properties),
                    received[row.received_at],
                )
                for row, key in fresh
            ],
        )
        return new

    def sorted_ids(self, conn: Connection, table: Table, *where: ColumnElement[bool]) -> list[int]:
        """The ids of ``table``'s rows that match ``where``, ascending."""
        return list(conn.execute(select(table.c.id).where(*where).order_by(table.c.id)).scalars())

    def by_code_point(self, column: ColumnElement[str]) -> ColumnElement[str]:
        """``column`` for an ORDER BY users see: by code point, whatever the database's locale.

        SQLite's default collation (BINARY) compares UTF-8 bytes, which is code point order.
        """
        return column

    def lock_rollup_keys(self, conn: Connection, keys: Iterable[Key]) -> None:
        """Wait until this transaction alone may rewrite (delete and reinsert) these keys' rows.

        On SQLite every write transaction holds the database's single write lock (BEGIN
        IMMEDIATE), so no other rewrite can be in flight: nothing to do.
        """

    def try_lock_rollup_key(self, conn: Connection, key: Key) -> bool:  # noqa: ARG002
        """Take a key's rewrite lock if free (never waits); False when another holds it."""
        return True

    def property_is(
        self, column: ColumnElement[Any], key: str, values: Sequence[str]
    ) -> ColumnElement[bool]:
        """Rows whose top-level property ``key`` may be one of the strings ``values``.

        A pre-filter for the exact test in Python: it may keep rows the test refuses, never
        drop one it accepts. ``key`` holds no ``"`` or backslash (the caller checks).
        """
        extracted = func.json_extract(column, f'$."{key}"')
        return or_(*(extracted == value for value in values))

    def integer_columns(
        self,
        conn: Connection,  # noqa: ARG002
        stmt: Select[Any],  # noqa: ARG002
        widths: Sequence[int],  # noqa: ARG002
    ) -> list[np.ndarray] | None:
        """The rows of ``stmt``, whose columns are non-null integers of ``widths`` bytes (4 or
        8), as one array per column, when the database can send them so in bulk; None: fetch
        rows the usual way."""
        return None

    def epoch_micros(self, column: ColumnElement[Any]) -> ColumnElement[int]:
        """A timestamp column as exact microseconds since 1970 (UTC), computed by the database:
        reading integers is several times cheaper than building a datetime per row.

        SQLite keeps ``YYYY-MM-DD HH:MM:SS.ffffff`` text (see ``_sqlite_time``): whole seconds
        from ``strftime('%s')``, the six digits of the fraction added as they are.
        """
        seconds = cast(func.strftime("%s", column), Integer)
        fraction = cast(func.substr(column, 21, 6), Integer)
        return seconds * 1_000_000 + fraction

    def try_lock_rollup_keys(self, conn: Connection, keys: Sequence[Key]) -> list[Key]:
        """Take the rewrite locks of those of ``keys`` that are free (never waits); return them."""
        return [key for key in keys if self.try_lock_rollup_key(conn, key)]

    @contextlib.contextmanager
    def compactor_turn(self, engine: Engine) -> Iterator[bool]:  # noqa: ARG002
        """Whether this process may compact now: True for one process at a time, until the
        block ends. SQLite has one process writing (embedded mode): always True.
        """
        yield True

    def lock_persons(self, conn: Connection) -> None:
        """Wait until this transaction alone may merge or erase persons (until it ends).

        SQLite: the write transaction's lock already makes it the only writer.
        """

    def fetch_bitmaps(self, conn: Connection, ids: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        """``(id, serialized bitmap)`` of rollup rows ``ids``, in the current transaction."""
        yield from self.fetch_blobs(conn, rollups, "users", ids)

    def fetch_blobs(
        self, conn: Connection, table: Table, column: str, ids: Sequence[int]
    ) -> Iterator[tuple[int, bytes]]:
        """``(id, bytes)`` of the binary ``column`` of rows ``ids`` of ``table`` (any order;
        NULLs as None), in the current transaction."""
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            rows = conn.execute(select(table.c.id, table.c[column]).where(table.c.id.in_(chunk)))
            yield from ((row_id, blob) for row_id, blob in rows)

    @contextlib.contextmanager
    def migration_lock(self, conn: Connection) -> Iterator[None]:  # noqa: ARG002
        """Hold off concurrent migrations (SQLite's file lock does it)."""
        yield


class PostgresDialect(Dialect):
    """PostgreSQL: COPY-based idempotent bulk loads, SKIP LOCKED compactions, advisory locks."""

    name: ClassVar[str] = "postgresql"
    single_writer: ClassVar[bool] = False
    # A report reads several queries; one snapshot keeps them consistent with each other.
    read_isolation: ClassVar[str | None] = "REPEATABLE READ"
    _MIGRATION_LOCK = 0x6576616E61  # "evana"

    def create_engine(self, url: str) -> Engine:
        engine = create_engine(
            url,
            pool_size=10,
            max_overflow=10,
            json_serializer=json_text,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # jsonb values that psycopg adapts itself (binary COPY) serialize like the API, and
            # jsonb read back decodes with the fast reader.
            psycopg.types.json.set_json_dumps(json_text, context=dbapi_connection)
            psycopg.types.json.set_json_loads(json_value, context=dbapi_connection)

        # A connection idle for a while is pinged before use (a restarted server has closed
        # it: a fresh one is taken instead); one used a moment ago is not. A ping on every
        # checkout cost a round trip per statement group, most of a small report's time.
        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            record.info["evana_used"] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            if time.monotonic() - record.info.get("evana_used", 0.0) < _PING_AFTER_IDLE:
                return
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as error:
                # The pool discards this connection and checks out another.
                raise exc.DisconnectionError(str(error)) from error

        return engine

    def insert(self, table: Table) -> Any:
        return postgresql.insert(table)

    def append_rollups(
        self, conn: Connection, rows: Sequence[RollupRow], table: Table = rollups
    ) -> None:
        # Binary COPY: an INSERT per row (what executemany sends) cost ~40 µs a row, and a
        # batch spread over many days appends hundreds of rows, one per key it touched.
        if not rows:
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        columns, written = _appended(rows, table)
        command = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        with raw.cursor(binary=True) as cur, cur.copy(command) as copy:
            copy.set_types([_ROLLUP_TYPES[column] for column in columns])
            for row in written:
                copy.write_row(row)

    def append_times(self, conn: Connection, rows: Sequence[tuple[dt.date, str, bytes]]) -> None:
        # Binary COPY, as for the rollups: a write appends a row per (day, event) it touched.
        if not rows:
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor(binary=True) as cur, cur.copy(_COPY_TIMES) as copy:
            copy.set_types(_COPY_TIMES_TYPES)
            for row in rows:
                copy.write_row(row)

    def store_events(
        self, conn: Connection, rows: Sequence[NormalizedEvent]
    ) -> list[NormalizedEvent]:
        # Almost every batch is new: COPY it straight into `events` (3x cheaper for the server
        # than staging + INSERT … SELECT), inside a savepoint. When an id is stored already (a
        # retry, a redelivery, a replay) the COPY fails on the primary key; roll back to the
        # savepoint and take the idempotent staging path instead. Rows go in event-id order so
        # concurrent writers of overlapping batches lock index entries in one order.
        raw = conn.connection.driver_connection
        assert raw is not None
        ordered = sorted(rows, key=_event_order)
        with raw.cursor(binary=True) as cur:
            cur.execute("SAVEPOINT evana_copy")
            try:
                with cur.copy(_COPY_EVENTS) as copy:
                    copy.set_types(_COPY_EVENTS_TYPES)
                    for row in ordered:
                        copy.write_row(
                            (
                                row.event_id,
                                row.event,
                                row.user_id,
                                row.timestamp,
                                row.properties,
                                row.received_at,
                            )
                        )
            except (psycopg.errors.UniqueViolation, psycopg.errors.CheckViolation):
                # A check: an id of a month whose raw events were dropped (``_partitions``).
                cur.execute("ROLLBACK TO SAVEPOINT evana_copy")
                return self._store_through_staging(cur, ordered)
            cur.execute("RELEASE SAVEPOINT evana_copy")
        return ordered

    def _store_through_staging(
        self, cur: psycopg.Cursor[Any], rows: Sequence[NormalizedEvent]
    ) -> list[NormalizedEvent]:
        # Binary COPY into a per-session staging table, then one INSERT … SELECT … ON CONFLICT
        # DO NOTHING that returns the ids it inserted.
        cur.execute(_STAGING)
        with cur.copy(_COPY) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                props = None if row.properties is None else json_text(row.properties)
                copy.write_row(
                    (
                        row.event_id,
                        row.event,
                        row.user_id,
                        row.timestamp,
                        props,
                        row.received_at,
                    )
                )
        cur.execute("SAVEPOINT evana_insert")
        try:
            cur.execute(_INSERT_NEW)
        except psycopg.errors.CheckViolation:
            cur.execute("ROLLBACK TO SAVEPOINT evana_insert")
            if not refuse_dropped(cur, "evana_staging"):
                raise
            cur.execute(_INSERT_NEW)
        inserted = {event_id for (event_id,) in cur.fetchall()}
        cur.execute("TRUNCATE evana_staging")
        return [row for row in rows if row.event_id in inserted]

    def sorted_ids(self, conn: Connection, table: Table, *where: ColumnElement[bool]) -> list[int]:
        # One array instead of a row per id: a thousand days of history read as one value.
        ordered = postgresql.aggregate_order_by(table.c.id, table.c.id)
        found = conn.execute(select(func.array_agg(ordered)).where(*where)).scalar_one()
        return list(found or ())

    def by_code_point(self, column: ColumnElement[str]) -> ColumnElement[str]:
        # A database created with a locale (en_US.UTF-8, ICU) sorts "a, A, b, B"; "C" compares
        # bytes, and UTF-8 byte order is code point order: "A, B, a, b", as on SQLite.
        return column.collate("C")

    # Why advisory locks and not SELECT ... FOR UPDATE on the rows: under READ COMMITTED a
    # locking SELECT that waits for a concurrent rewrite of the same key finds, once that one
    # commits, the rows it saw deleted (they are skipped) and cannot see the merged row that
    # replaced them (inserted after its snapshot), so it rewrites nothing and the erased user
    # stays in the merged row. A per-key lock taken *before* the SELECT, which then runs as a
    # fresh statement with a snapshot taken after the previous holder committed, sees every
    # row. Writers only append rows and never take these locks, so ingest never waits.
    # Deadlock freedom: erasures take their keys' locks in ascending lock-id order, and
    # compactions only ever try one lock without waiting.

    def lock_rollup_keys(self, conn: Connection, keys: Iterable[Key]) -> None:
        for lock in sorted({rollup_lock_id(key) for key in keys}):
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, :k)"),
                {"space": _ROLLUP_LOCK_SPACE, "k": lock},
            )

    def integer_columns(
        self, conn: Connection, stmt: Select[Any], widths: Sequence[int]
    ) -> list[np.ndarray] | None:
        # Binary COPY of fixed-width columns: every row is the same number of bytes (a field
        # count, then a length and the value per field), so numpy reads the whole stream as
        # one array of records, instead of the driver building a tuple of objects per row.
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor(binary=True) as cur:
            with cur.copy(f"COPY ({compiled}) TO STDOUT (FORMAT BINARY)", compiled.params) as copy:
                data = b"".join(bytes(chunk) for chunk in copy)
        fields: list[tuple[str, str]] = [("count", ">i2")]
        for i, width in enumerate(widths):
            fields += [(f"length{i}", ">i4"), (f"value{i}", f">i{width}")]
        record = np.dtype(fields)
        # The header: 11 signature bytes, 4 of flags, 4 giving the extension's length.
        start = 19 + int.from_bytes(data[15:19], "big")
        body = data[start : len(data) - 2]  # the trailer is a field count of -1
        rows = np.frombuffer(body, dtype=record)
        return [rows[f"value{i}"].astype(f"=i{width}") for i, width in enumerate(widths)]

    def epoch_micros(self, column: ColumnElement[Any]) -> ColumnElement[int]:
        return cast(extract("epoch", column) * 1_000_000, BigInteger)

    def property_is(
        self, column: ColumnElement[Any], key: str, values: Sequence[str]
    ) -> ColumnElement[bool]:
        # jsonb containment: {"plan": "pro"} is contained exactly when plan is the string "pro".
        document = type_coerce(column, JSONB)
        return or_(*(document.contains({key: value}) for value in values))

    def lock_tracked(self, conn: Connection, *, shared: bool = False) -> None:
        # An advisory lock, held in memory: a row lock (FOR SHARE) would write the locked rows
        # at every transaction of every writer. Readers take none.
        take = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(text(f"SELECT {take}(:space, :k)"), {"space": _TRACKED_LOCK_SPACE, "k": 0})

    def lock_persons(self, conn: Connection) -> None:
        # One lock for every merge: links are rare next to events, and two merges of
        # overlapping persons must see each other's result. Taken after a batch's rows are
        # stored and before any rollup key lock (erasures take it first too), so no cycle.
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, :k)"),
            {"space": _PERSON_LOCK_SPACE, "k": 0},
        )

    def try_lock_rollup_key(self, conn: Connection, key: Key) -> bool:
        stmt = text("SELECT pg_try_advisory_xact_lock(:space, :k)")
        params = {"space": _ROLLUP_LOCK_SPACE, "k": rollup_lock_id(key)}
        return bool(conn.execute(stmt, params).scalar_one())

    def try_lock_rollup_keys(self, conn: Connection, keys: Sequence[Key]) -> list[Key]:
        # One statement for the lot: a compaction pass locks hundreds of keys.
        ids = sorted({rollup_lock_id(key) for key in keys})
        stmt = text(
            "SELECT k FROM unnest(CAST(:ids AS int[])) AS k"
            " WHERE pg_try_advisory_xact_lock(:space, k)"
        )
        taken = set(conn.execute(stmt, {"ids": ids, "space": _ROLLUP_LOCK_SPACE}).scalars())
        return [key for key in keys if rollup_lock_id(key) in taken]

    @contextlib.contextmanager
    def compactor_turn(self, engine: Engine) -> Iterator[bool]:
        # A session lock on a connection of its own, held for the whole pass: the workers
        # that do not get it skip the pass; a crashed holder's lock goes with its session.
        params = {"space": _COMPACTOR_LOCK_SPACE, "k": 0}
        with engine.connect() as conn:
            lock = text("SELECT pg_try_advisory_lock(:space, :k)")
            got = bool(conn.execute(lock, params).scalar_one())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:space, :k)"), params)
                    conn.commit()

    def fetch_blobs(
        self, conn: Connection, table: Table, column: str, ids: Sequence[int]
    ) -> Iterator[tuple[int, bytes]]:
        # Binary protocol: bytea in text mode travels hex-encoded, twice the bytes and a slow
        # decode (7 ms instead of 2 ms for a month of daily bitmaps at 10M events; 33 ms
        # instead of 125 ms for a month of one number's multisets).
        if not ids:
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor(binary=True) as cur:
            cur.execute(f'SELECT id, "{column}" FROM {table.name} WHERE id = ANY(%s)', (list(ids),))
            yield from cur.fetchall()

    @contextlib.contextmanager
    def migration_lock(self, conn: Connection) -> Iterator[None]:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self._MIGRATION_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._MIGRATION_LOCK})


def dialect_for_url(url: str) -> Dialect:
    """The dialect of a database URL."""
    if url.startswith("sqlite"):
        return Dialect()
    if url.startswith("postgresql"):
        return PostgresDialect()
    raise StorageError(
        f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite or postgresql"
    )


def dialect_of(conn: Connection) -> Dialect:
    """The dialect of an open connection."""
    return _BY_NAME[conn.dialect.name]


_BY_NAME: dict[str, Dialect] = {"sqlite": Dialect(), "postgresql": PostgresDialect()}

_DBAPI_MODULES = frozenset({"psycopg", "sqlite3", "_sqlite3"})


def is_database_error(error: BaseException) -> bool:
    """True for errors raised by SQLAlchemy or a database driver (and text it could not encode)."""
    return (
        isinstance(error, exc.SQLAlchemyError | UnicodeError | StorageError)
        or type(error).__module__.split(".")[0] in _DBAPI_MODULES
    )


def classify_error(error: BaseException) -> StorageError:
    """Wrap a database error as transient (retry it) or permanent (the data itself is bad).

    Data and integrity errors come from the rows being written, so no retry can help; the batch
    is split to find them. Everything else — lost connections, timeouts, serialization failures,
    deadlocks, even a missing table during maintenance — is the database's state, worth retrying.
    """
    if isinstance(error, StorageError):
        return error
    message = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
    names = {cls.__name__ for cls in type(error).__mro__}
    if isinstance(error, UnicodeError) or names & {"DataError", "IntegrityError"}:
        return PermanentStorageError(message)
    return TransientStorageError(message)
