"""``/healthz`` (the process is up), ``/readyz`` (the database and the queue answer) and
``/v1/status`` (every part, the workers and the backlog: ``evana status``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from evana.server._auth import require
from evana.server._state import AppState, get_state

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Answers while the process serves requests (it checks nothing else, on purpose)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={503: {"description": "The database or the queue does not answer"}},
)
async def readyz(state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    """Checks the database and the queue; 503 (with what failed) until both answer.

    Embedded mode also checks that the database file is still the one opened (a deleted file
    is a 503). Production mode adds `workers` and `pending`: `"workers": "ok"` while some
    worker consumes the ingest stream, `"none"` when none does and nothing waits, and
    `"none: N messages waiting for a worker"` — then `status` is `"degraded"`, still `200`:
    the API keeps making batches durable, only nobody writes them to the database yet.
    """
    found = await state.readiness.check()
    if found.ready:
        return JSONResponse({"status": found.status, **found.checks()})
    return JSONResponse({"error": "not_ready", "detail": found.checks()}, status_code=503)


@router.get(
    "/v1/status",
    summary="Status of every part",
    dependencies=[Depends(require("admin"))],
)
async def status(state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    """The database, the queue, the workers, messages pending and unacknowledged, and the
    dead-letter entries (`null` where the mode has none); always `200`, even when not ready.
    """
    found = await state.readiness.check()
    return found.details("embedded" if state.settings.embedded else "production")
