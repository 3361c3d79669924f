"""``GET /metrics``: the API's Prometheus metrics.

Exposure is the app's choice (``EVANA_METRICS_ACCESS``): ``public`` includes this router as it
is (scrapers rarely carry a key), ``key`` includes it behind a read-scope key (Prometheus sends
one with ``authorization: {credentials: ...}``), ``off`` leaves it out (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from evana.server._metrics import CONTENT_TYPE
from evana.server._state import AppState, get_state

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: Annotated[AppState, Depends(get_state)]) -> Response:
    """Counters of this API process in the Prometheus text format: events accepted, rejected,
    published, and (embedded mode) inserted and duplicates.
    """
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)
