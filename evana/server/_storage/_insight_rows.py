"""Raw events for the insights that rollups cannot answer (filters, breakdowns, property math).

Rows come back as columns: numpy arrays of uid, timestamp (µs since 1970, UTC) and event-name
code, plus the properties only when the caller reads them, since decoding JSON is most of the
cost of a large read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, and_, case, or_, select, true

from ._tables import PERSON_EVENTS, events, users

if TYPE_CHECKING:
    from ._dialect import Dialect

__all__ = ["EventRows", "Wanted", "load_event_rows"]

#: Rows a query can use: of an event name (None: any), whose string properties may equal one of
#: the values given per key. A pre-filter only; the query's own test still decides each row.
Wanted = tuple[str | None, Sequence[tuple[str, Sequence[str]]]]


@dataclass(frozen=True, slots=True)
class EventRows:
    """Events as parallel columns; ``names[codes[i]]`` is row i's event name."""

    uids: np.ndarray
    micros: np.ndarray
    codes: np.ndarray
    names: list[str]
    #: Row i's properties (a dict, or None), when loaded.
    properties: list[Any] | None

    def __len__(self) -> int:
        return len(self.uids)

    def code_of(self, name: str) -> int:
        """The code of an event name; -1 when no row has it."""
        try:
            return self.names.index(name)
        except ValueError:
            return -1


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def load_event_rows(
    conn: Connection,
    dialect: Dialect,
    since: dt.date | None,
    until: dt.date,
    names: Sequence[str] | None = None,
    *,
    with_properties: bool = False,
    wanted: Sequence[Wanted] | None = None,
) -> EventRows:
    """Activity events of the UTC days [since, until] (``since`` None: from the first one), of
    ``names`` only when given; person operations are never activity, so never returned.

    ``wanted``, when given, lets the database skip rows no part of the query can use (any of
    its entries may hold), so that a filter on a property reads the rows it matches rather than
    every event of the name.

    >>> from evana.server._storage import Database, create_schema
    >>> db = Database("sqlite://"); create_schema(db)
    >>> with db.read() as conn:
    ...     len(load_event_rows(conn, db.dialect, None, dt.date(2026, 11, 2)))
    0
    """
    columns: list[Any] = [users.c.uid, dialect.epoch_micros(events.c.timestamp), events.c.event]
    if with_properties:
        columns.append(events.c.properties)
    stmt = select(*columns).select_from(events.join(users, events.c.user_id == users.c.user_id))
    if until < dt.date.max:
        stmt = stmt.where(events.c.timestamp < _midnight(until + dt.timedelta(days=1)))
    if since is not None:
        stmt = stmt.where(events.c.timestamp >= _midnight(since))
    if names is not None:
        chosen = sorted(set(names) - PERSON_EVENTS)
        if not chosen:
            return _empty(with_properties)
        stmt = stmt.where(events.c.event.in_(chosen))
    else:
        stmt = stmt.where(events.c.event.not_in(sorted(PERSON_EVENTS)))
    if wanted:
        stmt = stmt.where(or_(*(_wanted(dialect, entry) for entry in wanted)))
    if names is not None and not with_properties:
        # Named events without properties: every column is an integer (the name as its index
        # among the chosen), which the database may send in bulk.
        code = case({name: i for i, name in enumerate(chosen)}, value=events.c.event)
        bulk = dialect.integer_columns(conn, stmt.with_only_columns(*columns[:2], code), (4, 8, 4))
        if bulk is not None:
            uid_column, micros_column, code_column = bulk
            return EventRows(
                uid_column.astype(np.uint32), micros_column, code_column, list(chosen), None
            )
    # One fetch of all rows, then columns: iterating a result row by row costs a driver call
    # per row, most of the time of a large read.
    found = conn.execute(stmt).all()
    if not found:
        return _empty(with_properties)
    columns_of = list(zip(*found, strict=True))
    code_of: dict[str, int] = {}
    codes = [code_of.setdefault(name, len(code_of)) for name in columns_of[2]]
    return EventRows(
        uids=np.asarray(columns_of[0], dtype=np.uint32),
        micros=np.asarray(columns_of[1], dtype=np.int64),
        codes=np.asarray(codes, dtype=np.int32),
        names=list(code_of),
        properties=list(columns_of[3]) if with_properties else None,
    )


def _wanted(dialect: Dialect, entry: Wanted) -> ColumnElement[bool]:
    name, matches = entry
    parts = [] if name is None else [events.c.event == name]
    parts += [dialect.property_is(events.c.properties, key, values) for key, values in matches]
    return and_(*parts) if parts else true()


def _empty(with_properties: bool) -> EventRows:
    return EventRows(
        uids=np.zeros(0, dtype=np.uint32),
        micros=np.zeros(0, dtype=np.int64),
        codes=np.zeros(0, dtype=np.int32),
        names=[],
        properties=[] if with_properties else None,
    )
