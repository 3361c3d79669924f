"""``GET /v1/events/recent`` (the newest events, paged) and ``GET /v1/stats/events`` (per day)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import StringConstraints

from evana.schema import MAX_NAME_LENGTH
from evana.server._auth import require
from evana.server._browse import MAX_SERIES, BrowseService, EventCounts, RecentEvents
from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state

from ._dates import Since, Until, day_range

__all__ = ["router"]

# Raw events name users, which a read key must never see (docs/security.md: reports are
# aggregates only), so the newest events need an admin key; counts per day are a report.
router = APIRouter(responses=ERROR_RESPONSES)

State = Annotated[AppState, Depends(get_state)]
Text = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME_LENGTH)]


@router.get(
    "/v1/events/recent",
    response_model=RecentEvents,
    summary="Newest events",
    tags=["events"],
    dependencies=[Depends(require("admin"))],
)
def recent(
    state: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    event: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME_LENGTH)] = None,
    user_id: Text = None,
    before: Annotated[str | None, Query(max_length=100, description="`next` of a page")] = None,
) -> RecentEvents:
    """The stored events, newest first (by timestamp), optionally of one event name or one
    user; page with ``before`` = the previous answer's ``next``. Events still queued are not
    listed until written.
    """
    return BrowseService(state.db).recent(limit, event, user_id, before)


@router.get(
    "/v1/stats/events",
    response_model=EventCounts,
    summary="Events per day",
    tags=["stats"],
    dependencies=[Depends(require("read"))],
)
def events_per_day(
    state: State,
    since: Since = None,
    until: Until = None,
    event: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH)]],
        Query(description=f"Event names (repeat for several, at most {MAX_SERIES}); none: all"),
    ] = [],  # noqa: B006 (FastAPI copies the default)
) -> EventCounts:
    """The number of events on each day of [since, until], zero days included: one series per
    ``event`` asked for, or one of every event when none is."""
    return BrowseService(state.db).counts(*day_range(since, until), event)
