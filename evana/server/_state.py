"""The application's typed state, built by the lifespan and handed to routes as a dependency."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from evana._settings import Settings

from ._analytics import AnalyticsService
from ._ingest import IngestService
from ._insights import InsightService
from ._keys import KeyService
from ._metrics import Metrics
from ._queue import EventQueue
from ._ratelimit import RateLimiter
from ._readiness import ReadinessMonitor
from ._storage import Database

__all__ = ["AppState", "get_state"]


@dataclass(slots=True, repr=False)
class AppState:
    """Everything a request may need; one per running app.

    Its repr is short and names no secret: uvicorn's trace level prints each request's scope,
    this state included.
    """

    settings: Settings
    db: Database
    queue: EventQueue
    keys: KeyService
    ingest: IngestService
    analytics: AnalyticsService
    insights: InsightService
    metrics: Metrics
    #: Looks at the database, the queue and the workers (``/readyz``, ``/v1/status``).
    readiness: ReadinessMonitor
    #: Per-key token buckets; None when the rate limit is off (EVANA_RATE_LIMIT_PER_SECOND).
    limiter: RateLimiter | None = None

    def __repr__(self) -> str:
        mode = "embedded" if self.settings.embedded else "production"
        return f"<AppState {mode}, {self.db.engine.url.render_as_string(hide_password=True)}>"


async def get_state(request: Request) -> AppState:
    """FastAPI dependency: the state the lifespan built. A coroutine, though it awaits
    nothing: FastAPI runs a plain function dependency in its thread pool, a hop to another
    thread and back on every request for an attribute read."""
    state: AppState = request.state.evana
    return state
