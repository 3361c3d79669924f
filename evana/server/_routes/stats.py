"""``GET /v1/stats/*``: DAU, WAU, MAU, top events, retention, stickiness, lifecycle."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from evana.insights import Lifecycle, Stickiness
from evana.schema import MAX_NAME_LENGTH, ActiveUsers, Period, Retention, TopEvents
from evana.server._analytics import (
    MAX_LIMIT,
    MAX_PERIODS,
    MAX_RANGE_DAYS,
    RetentionType,
    days_before,
    period_start,
)
from evana.server._auth import require
from evana.server._errors import ERROR_RESPONSES
from evana.server._insights import parse_where
from evana.server._state import AppState, get_state
from evana.server._threads import in_thread

from ._dates import DATE_QUERY, FORMS, Since, Until, day_range, parse_day, today

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/stats",
    tags=["stats"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require("read"))],
)

State = Annotated[AppState, Depends(get_state)]

RetentionSince = Annotated[
    str | None,
    Query(
        description=f"First cohort period may start on this day: {FORMS}; default: the start"
        " of the period `periods - 1` periods before until's (within the longest range)",
        **DATE_QUERY,
    ),
]
EventName = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME_LENGTH)]
Where = Annotated[
    str | None,
    Query(
        description='A JSON list of filters, all of which must hold: `[{"key": "plan",'
        ' "op": "eq", "value": "pro"}]` (ops: eq, neq, in, not_in, gt, gte, lt, lte,'
        " contains, is_set, is_not_set; `person.<name>` reads a person property). With it, only"
        " matching events exist for the report.",
        # Worst case, percent-encoded UTF-8 is 12 bytes a character: 900 keeps the request
        # line, with every other parameter at its longest, under the server's 16 KiB limit.
        max_length=900,
        examples=['[{"key": "plan", "op": "eq", "value": "pro"}]'],
    ),
]
Event = Annotated[
    str | None,
    Query(min_length=1, max_length=MAX_NAME_LENGTH, description="Only this event (default: any)"),
]


def _active_route(kind: str, window: str) -> None:
    @router.get(f"/{kind}", response_model=ActiveUsers, summary=f"{kind.upper()}: {window}")
    @in_thread
    def route(
        state: State, since: Since = None, until: Until = None, where: Where = None
    ) -> ActiveUsers:
        return state.analytics.active_users(kind, *day_range(since, until), parse_where(where))

    route.__name__ = kind
    route.__doc__ = f"One row per day of [since, until]: {window}. Days without users are 0."


_active_route("dau", "distinct users active that day")
_active_route("wau", "distinct users active in the 7 days ending that day")
_active_route("mau", "distinct users active in the 30 days ending that day")


@router.get("/top-events", response_model=TopEvents, summary="Top events")
@in_thread
def top_events(
    state: State,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    where: Where = None,
) -> TopEvents:
    """Event names by number of events over [since, until], with distinct users.

    Ties come in code point order of the name ("A" < "Z" < "a"), on every database.
    """
    return state.analytics.top_events(*day_range(since, until), limit, parse_where(where))


@router.get("/retention", response_model=Retention, summary="Retention cohorts")
@in_thread
def retention(
    state: State,
    since: RetentionSince = None,
    until: Until = None,
    period: Annotated[Period, Query(description="day, week (ISO, Monday) or month")] = "week",
    periods: Annotated[int, Query(ge=1, le=MAX_PERIODS, description="Cells per cohort")] = 8,
    start_event: EventName = None,
    return_event: EventName = None,
    type: Annotated[
        RetentionType,
        Query(description="first_time: one cohort per person; recurring: every period"),
    ] = "first_time",
    cumulative: Annotated[
        bool, Query(description="Count a person in cell k if active in any period from k on")
    ] = False,
    where: Where = None,
) -> Retention:
    """Retention cohorts. First-time: a person's cohort is the period of their first event
    (or first ``start_event``); recurring: a person is in the cohort of every period in which
    they did it. ``retained[k]`` counts cohort persons active (or doing ``return_event``) k
    periods later (cumulative: in any period from k on, up to until's); ``null`` for periods
    that start after ``until``. ``where`` applies to start and return events alike.
    """
    filters = parse_where(where)
    last = parse_day("until", until) or today()
    first = parse_day("since", since)
    if first is None:
        first = _periods_back(last, period, periods)
    return state.analytics.retention(
        first,
        last,
        period,
        periods,
        start_event,
        return_event,
        type=type,
        cumulative=cumulative,
        where=filters,
    )


@router.get("/stickiness", response_model=Stickiness, summary="Stickiness")
@in_thread
def stickiness(
    state: State,
    since: Since = None,
    until: Until = None,
    event: Event = None,
    where: Where = None,
) -> Stickiness:
    """For k = 1 … days in [since, until], the persons active (on ``event``) on exactly k
    days of the range; zeros included."""
    filters = parse_where(where)
    return state.insights.stickiness(*day_range(since, until), event, filters)


@router.get("/lifecycle", response_model=Lifecycle, summary="Lifecycle")
@in_thread
def lifecycle(
    state: State,
    since: Since = None,
    until: Until = None,
    period: Annotated[Period, Query(description="day, week (ISO, Monday) or month")] = "day",
    event: Event = None,
    where: Where = None,
) -> Lifecycle:
    """For each period starting in [since, until]: persons new (first activity ever),
    returning (active in the period before too), resurrecting (back after a gap) and dormant
    (active in the period before, not in this one)."""
    filters = parse_where(where)
    return state.insights.lifecycle(*day_range(since, until), period, event, filters)


def _periods_back(until: dt.date, period: Period, periods: int) -> dt.date:
    """The start of the period ``periods - 1`` periods before the one holding ``until``, or of
    the oldest whole period within the longest range a report may span (a default is always
    valid: 400 months back would be over it)."""
    oldest = days_before(until, MAX_RANGE_DAYS - 1)
    start = period_start(until, period)
    for _ in range(periods - 1):
        if start <= oldest:
            break
        previous = period_start(start - dt.timedelta(days=1), period)
        if previous < oldest:
            break
        start = previous
    return start
