"""The database tables; Alembic revisions in ``migrations/`` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    Column,
    Date,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy import event as sql_event

from evana.schema import MAX_NAME_LENGTH

from ._types import JSONDocument, UTCDateTime

__all__ = [
    "ALL_EVENTS",
    "PERSON_EVENTS",
    "PROPERTY_ROLLUP_IDS",
    "api_keys",
    "event_times",
    "events",
    "metadata",
    "number_rollups",
    "person_ids",
    "person_properties",
    "person_state",
    "property_rollups",
    "rollups",
    "tracked_properties",
    "users",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: The raw events, one row each, named as DESIGN.md promises so operators can query them.
events = Table(
    "events",
    metadata,
    Column("event_id", Uuid(), primary_key=True),
    Column("event", String(MAX_NAME_LENGTH), nullable=False),
    Column("user_id", String(MAX_NAME_LENGTH), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("properties", JSONDocument, nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Index(None, "timestamp"),
    # A person's page, export and erasure read one user's events: without this, each is a scan.
    Index(None, "user_id"),
)

#: Dense integer ids for users, so sets of users are compact roaring bitmaps.
users = Table(
    "users",
    metadata,
    Column("uid", Integer(), primary_key=True, autoincrement=True),
    Column("user_id", String(MAX_NAME_LENGTH), nullable=False, unique=True),
)

#: The key of the every-event rollup of a day (event names are never empty).
ALL_EVENTS = ""

#: Person operations (PostHog's names; Segment's identify, alias and group are stored under
#: them): kept in ``events`` like any event, but never in a rollup, so they count in no report
#: (DESIGN.md, "Persons": they link and describe users, they are not activity).
PERSON_EVENTS = frozenset({"$identify", "$create_alias", "$set", "$groupidentify"})

#: Per-day rollups, as append-only deltas: each write adds one row per (day, event) it touched
#: holding the number of newly inserted events and a roaring bitmap of their users' uids; a
#: compaction merges a key's rows. Writers never update a shared row, so concurrent workers do
#: not contend, and a report reads a handful of small rows per day instead of raw events.
rollups = Table(
    "rollups",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("day", Date(), nullable=False),
    Column("event", String(MAX_NAME_LENGTH), nullable=False),
    Column("events", BigInteger(), nullable=False),
    Column("users", LargeBinary(), nullable=False),
    Index(None, "day", "event"),
    # With the id: a report finds a key's row ids in the index alone (an index-only scan on
    # PostgreSQL), without visiting a table page per row (each row holds its bitmap).
    Index(None, "event", "day", "id"),
    # Ids are never reused (AUTOINCREMENT on SQLite; a sequence on PostgreSQL), so a bitmap
    # cached under its row id never goes stale: rows are only inserted and deleted, never updated.
    sqlite_autoincrement=True,
)

#: Row ids of ``property_rollups`` start here, so that no id is both a rollup row's and a
#: property rollup row's (one cache once held both tables' rows by id alone).
PROPERTY_ROLLUP_IDS = 1 << 40

#: Per-day rollups of the values of each tracked event property (``tracked_properties``),
#: append-only deltas like ``rollups``, whose ``event`` column holds the key
#: "<event>\x1f<property>": ``events`` counts the day's events of that name (each has one
#: value; a missing property is ``null``) and ``users`` packs, per value, how many of them had
#: it and whose they were (``_packs``: one row per key a write touched, whatever the number of
#: values); ``counts`` holds the per-value events alone (``_packs.tally``; NULL in rows written
#: before it existed), what an insight that counts events reads. Insights filtered or broken
#: down by one tracked property read these instead of raw events.
property_rollups = Table(
    "property_rollups",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        Identity(start=PROPERTY_ROLLUP_IDS),
        primary_key=True,
        autoincrement=True,
    ),
    Column("day", Date(), nullable=False),
    Column("event", Text().with_variant(Text(collation="C"), "postgresql"), nullable=False),
    Column("events", BigInteger(), nullable=False),
    Column("users", LargeBinary(), nullable=False),
    Column("counts", LargeBinary(), nullable=True),
    Index(None, "event", "day"),
    Index(None, "day", "event"),
    sqlite_autoincrement=True,
)
# SQLite has no identity start: its AUTOINCREMENT counter is seeded instead.
sql_event.listen(
    property_rollups,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        "INSERT INTO sqlite_sequence (name, seq)"
        f" VALUES ('property_rollups', {PROPERTY_ROLLUP_IDS - 1})"
    ).execute_if(dialect="sqlite"),
)

#: Per-day summaries of the numbers of each tracked numeric event property (``kind``
#: "number" in ``tracked_properties``), appended as deltas like the rollups: ``event`` holds
#: "<event>\x1f<property>"; ``count`` numbers were seen, ``ints`` of them integers, whose exact
#: sum is ``int_sum``; ``scaled_sum`` is the exact sum of every number as a float, in units of
#: 2**-1074 (so partial sums add up exactly, and the float sum is rounded once, as ``math.fsum``
#: rounds); ``low`` and ``high`` are the smallest and largest as JSON. Sums are decimal text:
#: they outgrow 64 bits. ``values`` is the multiset of the numbers, for percentiles: the n
#: distinct ones as little-endian float64 in ascending order (a float before an equal int), then
#: n little-endian unsigned words ``count * 2 + is_int``, then one byte, the words' width (4, or
#: 8 once a count reaches 2**31): 12 bytes per distinct number (``_multiset``). NULL: unknown
#: (an integer past 2**53 was among them, or the row predates the column).
number_rollups = Table(
    "number_rollups",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("day", Date(), nullable=False),
    Column("event", Text().with_variant(Text(collation="C"), "postgresql"), nullable=False),
    Column("count", BigInteger(), nullable=False),
    Column("ints", BigInteger(), nullable=False),
    Column("int_sum", Text(), nullable=False),
    Column("scaled_sum", Text(), nullable=False),
    Column("low", Text(), nullable=False),
    Column("high", Text(), nullable=False),
    Column("values", LargeBinary(), nullable=True),
    Index(None, "event", "day"),
    Index(None, "day", "event"),
    sqlite_autoincrement=True,
)

#: Per day and event name, the (uid, timestamp) of every event the rollups count, appended as
#: deltas like them (one row per key a write touched) so that funnels read each person's step
#: times from here instead of scanning and sorting raw events. ``times`` packs one 12-byte
#: record per event: the uid (uint32) then microseconds since 1970 UTC (int64), little-endian,
#: in no particular order (see ``_times``). A key's records are complete when they are as many
#: as the events its ``rollups`` rows count; a reader that finds otherwise reads raw events.
event_times = Table(
    "event_times",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("day", Date(), nullable=False),
    Column("event", Text().with_variant(Text(collation="C"), "postgresql"), nullable=False),
    Column("times", LargeBinary(), nullable=False),
    Index(None, "event", "day"),
    Index(None, "day", "event"),
    sqlite_autoincrement=True,
)

#: The event properties kept in ``property_rollups`` (``kind`` "values") or ``number_rollups``
#: (``kind`` "number"). A property is *ready* once every stored event's value is in them; until
#: then ``complete_through`` is the last day built for events already stored (None: none yet),
#: and writers add only events of days up to it, so that the backfill (``evana db upgrade``)
#: and the writers never count one event twice.
tracked_properties = Table(
    "tracked_properties",
    metadata,
    Column("property", String(MAX_NAME_LENGTH), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("complete_through", Date(), nullable=True),
    Column("ready", Boolean(), nullable=False),
)

#: The uids of every person of several distinct ids, each with the person's number (``pid``:
#: the smallest uid of the person, so it depends only on the links, never on their order).
#: ``epoch`` is the ``person_state.epoch`` of the merge that last changed the row: readers that
#: hold a map as of epoch E read only rows with a later one.
person_ids = Table(
    "person_ids",
    metadata,
    Column("uid", Integer(), primary_key=True, autoincrement=False),
    Column("pid", Integer(), nullable=False),
    Column("epoch", BigInteger(), nullable=False),
    Index(None, "pid"),
    Index(None, "epoch"),
)

#: One row: ``epoch`` counts merges, ``resets`` counts erasures of persons (a reader's map
#: must then be read again whole, as rows were deleted, not changed).
person_state = Table(
    "person_state",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("epoch", BigInteger(), nullable=False),
    Column("resets", BigInteger(), nullable=False),
)

#: Person properties per distinct id, as the winning value of each kind: ``set`` keeps the
#: latest (timestamp, event id), ``set_once`` the earliest; a person's properties merge its
#: ids' rows the same way (any ``set`` beats every ``set_once``), so arrival order never matters.
person_properties = Table(
    "person_properties",
    metadata,
    Column("uid", Integer(), primary_key=True, autoincrement=False),
    Column("key", String(MAX_NAME_LENGTH), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("value", JSONDocument, nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("event_id", String(36), nullable=False),
)

#: API keys: only a SHA-256 of the secret part is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(MAX_NAME_LENGTH), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
