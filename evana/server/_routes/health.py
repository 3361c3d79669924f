"""``/healthz`` (the process is up) and ``/readyz`` (the database and the queue answer)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from evana.errors import EvanaError
from evana.server._state import AppState, get_state

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Answers while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={503: {"description": "The database or the queue does not answer"}},
)
async def readyz(state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    """Checks the database and the queue; 503 (with what failed) until both answer."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(state.db.ping), timeout=5)
        checks["database"] = "ok"
    except (EvanaError, TimeoutError) as exc:
        checks["database"] = f"error: {exc or 'timeout'}"
    try:
        await asyncio.wait_for(state.queue.check(), timeout=5)
        checks["queue"] = "ok"
    except (EvanaError, TimeoutError) as exc:
        checks["queue"] = f"error: {exc or 'timeout'}"
    if all(value == "ok" for value in checks.values()):
        return JSONResponse({"status": "ready", **checks})
    return JSONResponse({"error": "not_ready", "detail": checks}, status_code=503)
