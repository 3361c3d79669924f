"""Reads for browsing: the newest raw events (paged, newest first) and events per day.

The newest events walk the ``timestamp`` index backwards, so the first page is cheap on any
size of table; a filter on ``user_id`` has no index of its own yet and scans (a person's page
is opened one at a time, by hand). Events per day come from the rollups, never the raw rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from ._database import Database
from ._tables import events, rollups

__all__ = ["events_by_day", "newest_events"]


def newest_events(
    db: Database,
    limit: int,
    *,
    event: str | None = None,
    user_id: str | None = None,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` events, newest first (by timestamp, then event id), strictly older than
    ``before`` when given; as wire-format dicts with ``received_at``."""
    stmt = select(events).order_by(events.c.timestamp.desc(), events.c.event_id.desc())
    if event is not None:
        stmt = stmt.where(events.c.event == event)
    if user_id is not None:
        stmt = stmt.where(events.c.user_id == user_id)
    if before is not None:
        stamp, event_id = before
        stmt = stmt.where(
            (events.c.timestamp < stamp)
            | ((events.c.timestamp == stamp) & (events.c.event_id < event_id))
        )
    with db.read() as conn:
        rows = conn.execute(stmt.limit(limit)).all()
    return [
        {
            "event_id": row.event_id,
            "event": row.event,
            "user_id": row.user_id,
            "timestamp": row.timestamp,
            "properties": row.properties,
            "received_at": row.received_at,
        }
        for row in rows
    ]


def events_by_day(
    db: Database, names: Sequence[str], start: dt.date, end: dt.date
) -> dict[tuple[str, dt.date], int]:
    """The number of events of each name (``ALL_EVENTS`` for every event) per day of
    [start, end], from the rollups, in one query; days without events are absent."""
    stmt = (
        select(rollups.c.event, rollups.c.day, func.sum(rollups.c.events))
        .where(rollups.c.event.in_(names), rollups.c.day >= start, rollups.c.day <= end)
        .group_by(rollups.c.event, rollups.c.day)
    )
    with db.read() as conn:
        return {(name, day): int(total) for name, day, total in conn.execute(stmt).all()}
