"""Browsing the data: the newest events (live view, a person's events) and events per day.

Wire models of these answers live here, beside the only code that makes them, until the SDK
reads them too (then they move to ``evana.schema``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from evana.errors import InvalidRequestError

from ._analytics import check_range
from ._storage import ALL_EVENTS, Database, events_by_day, newest_events

__all__ = [
    "MAX_SERIES",
    "BrowseService",
    "DayEvents",
    "EventCounts",
    "EventSeries",
    "RecentEvents",
    "StoredEvent",
]

#: Event names one ``GET /v1/stats/events`` may ask for (the overview asks for its top ten).
MAX_SERIES = 20


class StoredEvent(BaseModel):
    """An event as stored, with when the server received it."""

    event_id: uuid.UUID
    event: str
    user_id: str
    timestamp: dt.datetime
    properties: dict[str, Any] | None = None
    received_at: dt.datetime


class RecentEvents(BaseModel):
    """A page of events, newest first, and the cursor of the next (older) page."""

    events: list[StoredEvent]
    next: str | None = Field(
        description="Pass as `before` for the next, older page; null on the last page."
    )


class DayEvents(BaseModel):
    """Events on one day."""

    date: dt.date
    events: int


class EventSeries(BaseModel):
    """Events per day of one event name (``event`` null: of every event)."""

    event: str | None
    total: int
    series: list[DayEvents]


class EventCounts(BaseModel):
    """Events per day of [since, until]: one series per event asked for (or one of all)."""

    since: dt.date
    until: dt.date
    events: list[EventSeries]


def _cursor(row: dict[str, Any]) -> str:
    return f"{row['timestamp'].isoformat()}~{row['event_id']}"


def parse_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    """The position a ``next`` cursor stands for; 422 for anything else.

    >>> parse_cursor("2026-11-02T09:15:00+00:00~00000000-0000-0000-0000-000000000001")[1].int
    1
    """
    stamp, _, event_id = cursor.partition("~")
    try:
        when = dt.datetime.fromisoformat(stamp)
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC), uuid.UUID(event_id)
    except ValueError:
        raise InvalidRequestError(
            f"before: not a cursor from a previous page: {cursor!r}"
        ) from None


class BrowseService:
    """Reads raw events page by page, and event counts from the rollups."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def recent(
        self,
        limit: int,
        event: str | None = None,
        user_id: str | None = None,
        before: str | None = None,
    ) -> RecentEvents:
        """The newest ``limit`` events (of ``event``, of ``user_id``), older than ``before``."""
        position = parse_cursor(before) if before is not None else None
        # One more than asked tells whether an older page exists without a second query.
        rows = newest_events(self.db, limit + 1, event=event, user_id=user_id, before=position)
        page = rows[:limit]
        more = len(rows) > limit
        return RecentEvents(
            events=[StoredEvent.model_validate(row) for row in page],
            next=_cursor(page[-1]) if more else None,
        )

    def counts(self, since: dt.date, until: dt.date, events: Sequence[str] = ()) -> EventCounts:
        """Events per day of each name in ``events`` (of all events when empty), zero days
        included, from one read of the rollups."""
        check_range(since, until)
        if len(events) > MAX_SERIES:
            raise InvalidRequestError(f"event: at most {MAX_SERIES} names")
        wanted: list[str | None] = [*dict.fromkeys(events)] or [None]
        keys = [name if name is not None else ALL_EVENTS for name in wanted]
        found = events_by_day(self.db, keys, since, until)
        days = []
        day = since
        while day <= until:
            days.append(day)
            if day == dt.date.max:
                break
            day += dt.timedelta(days=1)
        out = []
        for name, key in zip(wanted, keys, strict=True):
            series = [DayEvents(date=d, events=found.get((key, d), 0)) for d in days]
            out.append(EventSeries(event=name, total=sum(p.events for p in series), series=series))
        return EventCounts(since=since, until=until, events=out)
