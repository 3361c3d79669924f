"""``GET /v1/stats/*``: DAU, WAU, MAU, top events, retention."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from evana.schema import MAX_NAME_LENGTH, ActiveUsers, IsoDate, Period, Retention, TopEvents
from evana.server._analytics import MAX_LIMIT, MAX_PERIODS, days_before, period_start
from evana.server._auth import require
from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/stats",
    tags=["stats"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require("read"))],
)

State = Annotated[AppState, Depends(get_state)]
Since = Annotated[
    IsoDate | None,
    Query(description="First day (YYYY-MM-DD, UTC), inclusive; default: 30 days back"),
]
Until = Annotated[
    IsoDate | None, Query(description="Last day (YYYY-MM-DD, UTC), inclusive; default: today")
]
RetentionSince = Annotated[
    IsoDate | None,
    Query(
        description="First cohort period may start on this day (YYYY-MM-DD, UTC);"
        " default: the start of the period `periods - 1` periods before until's"
    ),
]
EventName = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME_LENGTH)]


def _range(since: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date]:
    until = until or dt.datetime.now(dt.UTC).date()
    return since or days_before(until, 29), until


def _active_route(kind: str, window: str) -> None:
    @router.get(f"/{kind}", response_model=ActiveUsers, summary=f"{kind.upper()}: {window}")
    def route(state: State, since: Since = None, until: Until = None) -> ActiveUsers:
        return state.analytics.active_users(kind, *_range(since, until))

    route.__name__ = kind
    route.__doc__ = f"One row per day of [since, until]: {window}. Days without users are 0."


_active_route("dau", "distinct users active that day")
_active_route("wau", "distinct users active in the 7 days ending that day")
_active_route("mau", "distinct users active in the 30 days ending that day")


@router.get("/top-events", response_model=TopEvents, summary="Top events")
def top_events(
    state: State,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> TopEvents:
    """Event names by number of events over [since, until], with distinct users.

    Ties come in code point order of the name ("A" < "Z" < "a"), on every database.
    """
    return state.analytics.top_events(*_range(since, until), limit)


@router.get("/retention", response_model=Retention, summary="Retention cohorts")
def retention(
    state: State,
    since: RetentionSince = None,
    until: Until = None,
    period: Annotated[Period, Query(description="day, week (ISO, Monday) or month")] = "week",
    periods: Annotated[int, Query(ge=1, le=MAX_PERIODS, description="Cells per cohort")] = 8,
    start_event: EventName = None,
    return_event: EventName = None,
) -> Retention:
    """First-time retention: a user's cohort is the period of their first event (or first
    ``start_event``); ``retained[k]`` counts cohort users active (or doing ``return_event``)
    k periods later; ``null`` for periods that start after ``until``.
    """
    until = until or dt.datetime.now(dt.UTC).date()
    if since is None:
        since = _periods_back(until, period, periods)
    return state.analytics.retention(since, until, period, periods, start_event, return_event)


def _periods_back(until: dt.date, period: Period, periods: int) -> dt.date:
    """The start of the period ``periods - 1`` periods before the one holding ``until``."""
    start = period_start(until, period)
    for _ in range(periods - 1):
        if start == dt.date.min:
            break
        start = period_start(start - dt.timedelta(days=1), period)
    return start
