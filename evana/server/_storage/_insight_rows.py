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
from sqlalchemy import Connection, select

from ._tables import PERSON_EVENTS, events, users

if TYPE_CHECKING:
    from ._dialect import Dialect

__all__ = ["EventRows", "load_event_rows"]


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
) -> EventRows:
    """Activity events of the UTC days [since, until] (``since`` None: from the first one), of
    ``names`` only when given; person operations are never activity, so never returned.

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
        wanted = sorted(set(names) - PERSON_EVENTS)
        if not wanted:
            return _empty(with_properties)
        stmt = stmt.where(events.c.event.in_(wanted))
    else:
        stmt = stmt.where(events.c.event.not_in(sorted(PERSON_EVENTS)))
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


def _empty(with_properties: bool) -> EventRows:
    return EventRows(
        uids=np.zeros(0, dtype=np.uint32),
        micros=np.zeros(0, dtype=np.int64),
        codes=np.zeros(0, dtype=np.int32),
        names=[],
        properties=[] if with_properties else None,
    )
