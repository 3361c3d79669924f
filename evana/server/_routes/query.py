"""``POST /v1/query/*``: trends and funnels, with the query as a JSON body."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from evana.insights import FunnelQuery, FunnelResult, Trends, TrendsQuery
from evana.server._auth import require
from evana.server._errors import BAD_BODY, ERROR_RESPONSES
from evana.server._state import AppState, get_state
from evana.server._threads import in_thread

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/query",
    tags=["insights"],
    responses={**ERROR_RESPONSES, **BAD_BODY},
    dependencies=[Depends(require("read"))],
)

State = Annotated[AppState, Depends(get_state)]


@router.post("/trends", response_model=Trends, summary="Trends")
@in_thread
def trends(state: State, query: TrendsQuery) -> Trends:
    """Per interval (day, ISO week, month) overlapping [since, until], a math over each series'
    events (total, distinct persons, or sum/avg/min/max/median/p90/p95/p99 of a numeric
    property), optionally broken down by a property; ``total`` is the math over the range.
    """
    return state.insights.trends(query)


@router.post("/funnel", response_model=FunnelResult, summary="Funnel")
@in_thread
def funnel(state: State, query: FunnelQuery) -> FunnelResult:
    """Persons who went through the steps within the window (ordered, or in any order), the
    conversion from the first step, and the median time between steps.
    """
    return state.insights.funnel(query)
