"""Monthly partitions of ``events`` on PostgreSQL, and months of raw events dropped whole.

evana recognises a resent event by its id alone, and PostgreSQL keeps a unique key on a
partitioned table only if the key holds the partition column; so ``events`` is partitioned by
``event_id``, by ranges of time: a UUIDv7 (what evana's SDK, its CLI and PostHog's browser SDK
make) begins with the milliseconds at which the event was tracked. Each month of tracked events
gets its partition, ``events_YYYY_MM``; ids with no time in them (derived from an event's
content, or UUIDv4) fall, almost all, in the default partition ``events_other``.

A month is *dropped* by truncating its partition — no row is deleted one by one — and adding
the check ``<name>_dropped`` that refuses every UUIDv7 from then on, so its range keeps
saying "these ids were stored": a writer that meets the check drops those events as
duplicates (:func:`refuse_dropped`) instead of counting them again. Rows of other versions
that happened to fall in the month's range (one random id in ~100,000 per month of range)
are kept, as ``events_other``'s are. The partitions are made ahead of time by the compactor
(or ``evana db partition``); one made late takes its range's rows out of ``events_other``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy import Connection

    from ._database import Database

__all__ = [
    "MONTHS_AHEAD",
    "Month",
    "add_months",
    "drop_months",
    "is_partitioned",
    "keep_months_ahead",
    "months",
    "partition_events",
    "refuse_dropped",
    "uuid7_floor",
]

log = logging.getLogger("evana.storage")

#: Months of partitions kept ready after the current one.
MONTHS_AHEAD = 2
DEFAULT = "events_other"

# The version digit of a UUID's text, and the milliseconds of a UUIDv7 as a bigint.
_VERSION = "substr(event_id::text, 15, 1)"
_MILLIS = "('x' || replace(left(event_id::text, 13), '-', ''))::bit(48)::bigint"
_BOUNDS = re.compile(r"FROM \('([0-9a-f-]{36})'\) TO \('([0-9a-f-]{36})'\)")
_CHILDREN = """
    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid),
           EXISTS (SELECT 1 FROM pg_constraint k
                   WHERE k.conrelid = c.oid AND k.conname = c.relname || '_dropped')
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'events'::regclass
"""


def uuid7_floor(day: dt.date) -> uuid.UUID:
    """The smallest UUID whose first 48 bits are the first millisecond of ``day`` (UTC).

    >>> uuid7_floor(dt.date(2026, 11, 1))
    UUID('01a19467-e800-0000-0000-000000000000')
    """
    return uuid.UUID(int=calendar.timegm(day.timetuple()) * 1000 << 80)


def _next(first: dt.date) -> dt.date:
    return (first + dt.timedelta(days=32)).replace(day=1)


def _name(first: dt.date) -> str:
    return f"events_{first:%Y_%m}"


@dataclass(frozen=True)
class Month:
    """A month's partition of ``events``: its name, its first day, whether it was dropped."""

    name: str
    first: dt.date
    dropped: bool

    @property
    def bounds(self) -> tuple[uuid.UUID, uuid.UUID]:
        return _bounds(self.first)


def _bounds(first: dt.date) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids of the month from ``first``: [low, high)."""
    return uuid7_floor(first), uuid7_floor(_next(first))


def is_partitioned(conn: Connection) -> bool:
    """Whether ``events`` is a partitioned table (always False on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass('events')")
    ).scalar()
    return kind == "p"


def _months(rows: Any) -> list[Month]:
    out = []
    for name, bound, dropped in rows:
        found = _BOUNDS.search(bound or "")
        if found is None:
            continue  # the default partition
        millis = uuid.UUID(found.group(1)).int >> 80
        first = dt.datetime.fromtimestamp(millis / 1000, dt.UTC).date()
        out.append(Month(name, first, bool(dropped)))
    return sorted(out, key=lambda month: month.first)


def months(conn: Connection) -> list[Month]:
    """The month partitions of ``events``, oldest first (none when it is not partitioned)."""
    if not is_partitioned(conn):
        return []
    return _months(conn.execute(text(_CHILDREN)))


def _convert(conn: Connection) -> None:
    """Make ``events`` a partitioned table holding the same rows, with a partition for each
    month its UUIDv7 ids were made in."""
    tracked = conn.execute(
        text(
            f"SELECT DISTINCT date_trunc('month', to_timestamp({_MILLIS} / 1000.0)"
            f" AT TIME ZONE 'UTC')::date FROM events WHERE {_VERSION} = '7'"
        )
    ).scalars()
    statements = [
        "ALTER TABLE events RENAME TO events_unpartitioned",
        "ALTER TABLE events_unpartitioned RENAME CONSTRAINT pk_events TO pk_events_unpartitioned",
        "ALTER INDEX ix_events_timestamp RENAME TO ix_events_unpartitioned_timestamp",
        "ALTER INDEX ix_events_user_id RENAME TO ix_events_unpartitioned_user_id",
        "CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS,"
        " CONSTRAINT pk_events PRIMARY KEY (event_id)) PARTITION BY RANGE (event_id)",
        'CREATE INDEX ix_events_timestamp ON events ("timestamp")',
        "CREATE INDEX ix_events_user_id ON events (user_id)",
        f"CREATE TABLE {DEFAULT} PARTITION OF events DEFAULT",
    ]
    statements += [_create(first) for first in tracked]
    statements += [
        "INSERT INTO events SELECT * FROM events_unpartitioned",
        "DROP TABLE events_unpartitioned",
    ]
    for statement in statements:
        conn.execute(text(statement))


def _create(first: dt.date) -> str:
    low, high = _bounds(first)
    return (
        f"CREATE TABLE {_name(first)} PARTITION OF events FOR VALUES FROM ('{low}') TO ('{high}')"
    )


def _add(conn: Connection, first: dt.date) -> None:
    """Add the partition of the month from ``first``, moving its range's rows out of the
    default partition (there when no partition was ready: a clock ahead, a late upkeep)."""
    name = _name(first)
    low, high = _bounds(first)
    conn.execute(text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)"))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE event_id >= :low AND event_id < :high"
            f" RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        {"low": low, "high": high},
    )
    conn.execute(
        text(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')")
    )


def _wanted(have: list[Month], today: dt.date, ahead: int) -> list[dt.date]:
    """This month through ``ahead`` months after it, from the month after the newest
    partition if that is older (no gap where upkeep paused)."""
    this = last = today.replace(day=1)
    for _ in range(ahead):
        last = _next(last)
    first = min(this, _next(have[-1].first)) if have else this
    out = []
    while first <= last:
        out.append(first)
        first = _next(first)
    return out


def keep_months_ahead(db: Database, today: dt.date, ahead: int = MONTHS_AHEAD) -> list[str]:
    """Add the partitions of this month and the ``ahead`` next ones that are missing, when
    ``events`` is partitioned; return the names added. Cheap when there is nothing to do."""
    with db.read() as conn:
        if not is_partitioned(conn):
            return []
        present = months(conn)
    have = {month.first for month in present}
    missing = [first for first in _wanted(present, today, ahead) if first not in have]
    return add_months(db, missing) if missing else []


def add_months(db: Database, firsts: Iterable[dt.date]) -> list[str]:
    """Add the partitions of the months beginning on ``firsts`` that ``events`` (partitioned)
    lacks, each taking its range's rows out of the default partition; return the names added."""
    with db.write() as conn:
        have = {month.first for month in months(conn)}  # another process may have added them
        added = sorted({first.replace(day=1) for first in firsts} - have)
        for first in added:
            _add(conn, first)
    for first in added:
        log.info("msg=partition_added partition=%s", _name(first))
    return [_name(first) for first in added]


def partition_events(db: Database, today: dt.date, ahead: int = MONTHS_AHEAD) -> bool:
    """Partition ``events`` by month (PostgreSQL) unless it is already, then keep the next
    ``ahead`` months ready; return whether it was converted now. The conversion copies every
    row once, in one transaction: run it while the workers are stopped."""
    with db.write() as conn:
        converted = not is_partitioned(conn)
        if converted:
            conn.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
            _convert(conn)
    keep_months_ahead(db, today, ahead)
    return converted


def drop_months(db: Database, before: dt.date) -> list[tuple[Month, int]]:
    """Drop the raw events of every month partition that ends on or before ``before``:
    truncate it and make it refuse UUIDv7 ids from then on. Rows of other versions in its
    range are kept. Return each month dropped now with the rows it held."""
    out = []
    with db.write() as conn:
        for month in months(conn):
            if month.dropped or _next(month.first) > before:
                continue
            name = month.name
            # One read of the month's ids (its primary key's index can answer it alone): how
            # many, and the few of other versions, whose rows are kept.
            held, kept = conn.execute(
                text(
                    f"SELECT count(*), array_agg(event_id) FILTER (WHERE {_VERSION} <> '7')"
                    f" FROM {name}"
                )
            ).one()
            if kept:
                conn.execute(
                    text(
                        f"CREATE TEMP TABLE evana_kept ON COMMIT DROP AS"
                        f" SELECT * FROM {name} WHERE event_id = ANY(:kept)"
                    ),
                    {"kept": kept},
                )
            conn.execute(text(f"TRUNCATE {name}"))
            conn.execute(
                text(f"ALTER TABLE {name} ADD CONSTRAINT {name}_dropped CHECK ({_VERSION} <> '7')")
            )
            if kept:
                conn.execute(text(f"INSERT INTO {name} SELECT * FROM evana_kept"))
                conn.execute(text("DROP TABLE evana_kept"))
            out.append((Month(name, month.first, True), held))
    for month, held in out:
        log.info("msg=month_dropped partition=%s events=%d", month.name, held)
    return out


def refuse_dropped(cur: psycopg.Cursor[Any], staging: str) -> int:
    """Delete from ``staging`` the UUIDv7 events of dropped months: their ids were stored
    before, so they are duplicates. Return how many."""
    cur.execute(_CHILDREN)
    dropped = [month for month in _months(cur.fetchall()) if month.dropped]
    if not dropped:
        return 0
    ranges = " OR ".join("(event_id >= %s AND event_id < %s)" for _ in dropped)
    params = [bound for month in dropped for bound in month.bounds]
    cur.execute(f"DELETE FROM {staging} WHERE {_VERSION} = '7' AND ({ranges})", params)
    refused = cur.rowcount
    if refused:
        log.info("msg=events_of_dropped_months events=%d", refused)
    return refused
