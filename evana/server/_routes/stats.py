"""``GET /v1/stats/*``: DAU, WAU, MAU, top events, retention."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from evana.client import parse_date
from evana.errors import ConfigurationError, InvalidRequestError
from evana.schema import MAX_NAME_LENGTH, ActiveUsers, Period, Retention, TopEvents
from evana.server._analytics import (
    MAX_LIMIT,
    MAX_PERIODS,
    MAX_RANGE_DAYS,
    days_before,
    period_start,
)
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

#: The date forms of every report (the SDK's and the CLI's too: one parser, ``parse_date``).
_FORMS = (
    "YYYY-MM-DD, `today`, `yesterday`, or a span back from today (UTC) that includes today:"
    " `30d` (days), `12w` (weeks), `3m` (calendar months), `1y` (years)"
)
_DATE = {"min_length": 1, "max_length": 32, "examples": ["2026-11-02", "30d", "3m"]}
Since = Annotated[
    str | None,
    Query(description=f"First day, inclusive: {_FORMS}; default: 30 days back", **_DATE),
]
Until = Annotated[
    str | None, Query(description=f"Last day, inclusive: {_FORMS}; default: today", **_DATE)
]
RetentionSince = Annotated[
    str | None,
    Query(
        description=f"First cohort period may start on this day: {_FORMS}; default: the start"
        " of the period `periods - 1` periods before until's (within the longest range)",
        **_DATE,
    ),
]
EventName = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME_LENGTH)]


def _day(name: str, value: str | None) -> dt.date | None:
    """A ``since``/``until`` parameter as a UTC date; 422 naming the accepted forms."""
    if value is None:
        return None
    try:
        return parse_date(value)
    except ConfigurationError as exc:
        raise InvalidRequestError(f"{name}: {exc}") from None


def _range(since: str | None, until: str | None) -> tuple[dt.date, dt.date]:
    last = _day("until", until) or dt.datetime.now(dt.UTC).date()
    return _day("since", since) or days_before(last, 29), last


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
    last = _day("until", until) or dt.datetime.now(dt.UTC).date()
    first = _day("since", since)
    if first is None:
        first = _periods_back(last, period, periods)
    return state.analytics.retention(first, last, period, periods, start_event, return_event)


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
