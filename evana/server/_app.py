"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware

from evana._settings import Settings
from evana._version import __version__
from evana.schema import EventBatch

from ._analytics import AnalyticsService
from ._auth import require
from ._dashboard import install as install_dashboard
from ._errors import install_error_handlers
from ._ingest import IngestService
from ._insights import InsightService
from ._keys import CreatedKey, KeyService
from ._metrics import Metrics
from ._queue import EventQueue, InProcessQueue, NatsQueue
from ._ratelimit import RateLimiter
from ._readiness import ReadinessMonitor
from ._redact import install_redaction
from ._routes import (
    browse,
    dlq,
    events,
    health,
    keys,
    metrics,
    persons,
    posthog,
    query,
    segment,
    stats,
    users,
)
from ._routes._cors import AnyOriginCors
from ._state import AppState
from ._storage import (
    BitmapCache,
    Database,
    EventStore,
    PersonDirectory,
    sync_tracked,
    times_to_build,
    upgrade,
)
from ._writer import BatchWriter, MeteredWriter

log = logging.getLogger("evana.server")

__all__ = ["create_app", "prepare"]

_DESCRIPTION = """\
Send events, get exact DAU/WAU/MAU, top events and retention.

Authenticate with an API key in `X-API-Key` (or `Authorization: Bearer`). Scopes: `ingest`
(send events only — safe to ship in apps), `read` (stats), `admin` (everything).
"""


def track_properties(db: Database, settings: Settings) -> None:
    """Start keeping rollups of the properties ``EVANA_INSIGHT_PROPERTIES`` and
    ``EVANA_INSIGHT_NUMBERS`` add (only
    ``evana db upgrade`` stops keeping one, and builds them for stored events)."""
    pending = sync_tracked(db, settings.insight_properties, settings.insight_numbers, drop=False)
    if pending:
        log.warning(
            "msg=insight_properties_pending properties=%s detail=%r",
            ",".join(pending),
            "insights read raw events for these until `evana db upgrade` builds their rollups",
        )


def check_event_times(db: Database) -> None:
    """Warn when stored events have no event times yet (a database upgraded from before
    them): funnels over their days read raw events until ``evana db upgrade`` builds them."""
    pending = times_to_build(db)
    if pending:
        log.warning(
            "msg=event_times_pending keys=%d detail=%r",
            pending,
            "funnels over these days read raw events until `evana db upgrade` builds their"
            " event times",
        )


def prepare(settings: Settings) -> CreatedKey | None:
    """Migrate the database, create or check the NATS streams (production mode) and, when the
    database has no key yet, make the first admin key.

    Returns the new key (to print once) or None. Raises QueueUnavailableError when NATS is
    configured but does not answer.
    """
    if not settings.embedded:
        asyncio.run(_check_nats(settings))
    db = Database(settings.database_url)
    try:
        if settings.auto_migrate:
            upgrade(db)
            track_properties(db, settings)
            check_event_times(db)
        return KeyService(db).bootstrap()
    finally:
        db.dispose()


async def _check_nats(settings: Settings) -> None:
    queue = NatsQueue(settings)
    await queue.start()
    await queue.close()


async def _start(settings: Settings) -> AppState:
    db = Database(settings.database_url)
    if settings.auto_migrate:
        await asyncio.to_thread(upgrade, db)
        await asyncio.to_thread(track_properties, db, settings)
    app_metrics = Metrics()
    queue: EventQueue
    if settings.embedded:
        inprocess = InProcessQueue(max_group_events=4 * settings.max_batch_events)
        inprocess.start_consuming(MeteredWriter([BatchWriter(EventStore(db))], app_metrics))
        queue = inprocess
    else:
        # Production: the API only publishes; `evana worker` processes write.
        queue = NatsQueue(settings, metrics=app_metrics)
    try:
        await queue.start()
    except BaseException:
        await queue.close()
        db.dispose()
        raise
    limit = settings.rate_limit
    # One cache and one person directory for every report, so both see the same bitmaps.
    cache = BitmapCache()
    persons = PersonDirectory(db)
    return AppState(
        limiter=RateLimiter(*limit) if limit is not None else None,
        settings=settings,
        db=db,
        queue=queue,
        keys=KeyService(db),
        ingest=IngestService(
            queue,
            max_batch_events=settings.max_batch_events,
            max_body_bytes=settings.max_body_bytes,
            metrics=app_metrics,
        ),
        analytics=AnalyticsService(db, cache, persons),
        insights=InsightService(db, cache, persons),
        metrics=app_metrics,
        readiness=ReadinessMonitor(
            db, queue, app_metrics, busy_for=settings.worker_ack_wait_seconds
        ),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. With no settings, read them from the environment (``EVANA_*``).

    >>> app = create_app(Settings(database_url="sqlite://"))
    >>> app.title
    'evana'

    Serve it with uvicorn (``evana serve`` does this), or ``uvicorn --factory
    evana.server:create_app`` for several worker processes.
    """
    settings = settings if settings is not None else Settings()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, AppState]]:
        install_redaction()  # now: uvicorn (or the host app) has configured logging by then
        state = await _start(settings)
        watching = asyncio.create_task(state.readiness.watch())
        try:
            yield {"evana": state}
        finally:
            state.readiness.stop()
            await watching
            await state.queue.close()
            state.db.dispose()

    docs = settings.docs_enabled
    app = FastAPI(
        title="evana",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        # /docs and /redoc come with the dashboard, from vendored files (no CDN).
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_error_handlers(app)
    app.include_router(events.router)
    app.include_router(stats.router)
    app.include_router(query.router)
    app.include_router(users.router)
    app.include_router(persons.router)
    app.include_router(keys.router)
    app.include_router(browse.router)
    app.include_router(dlq.router)
    app.include_router(health.router)
    app.include_router(posthog.router)
    app.include_router(segment.router)
    if settings.metrics_access == "key":
        app.include_router(metrics.router, dependencies=[Depends(require("read"))])
    elif settings.metrics_access == "public":
        app.include_router(metrics.router)
    app.add_middleware(users.RawUserIdPaths)
    install_dashboard(app, settings)
    if settings.cors_origins:
        _allow_cors(app, settings.cors_origins)
    # Outermost: the drop-in routes answer any origin, whatever EVANA_CORS_ORIGINS allows.
    app.add_middleware(
        AnyOriginCors,
        paths=(*posthog.CORS_PATHS, *segment.CORS_PATHS),
        prefixes=posthog.CORS_PREFIXES,
    )
    _document_batch_schema(app)
    return app


_EVENTS_EXAMPLE = {
    "events": [
        {
            "event_id": "0192f4c2-7a1e-7c3b-9d2f-4b1a2c3d4e5f",
            "event": "signup",
            "user_id": "u_42",
            "timestamp": "2026-11-02T09:15:00Z",
            "properties": {"plan": "pro"},
        }
    ]
}


def _allow_cors(app: FastAPI, origins: list[str]) -> None:
    """Answer browsers' CORS preflights and tag answers for ``origins`` (EVANA_CORS_ORIGINS).

    Keys travel in headers, never in cookies, so credentials stay off: a page can call the API
    only with a key it was given, and ``*`` is then safe for ingest-only keys.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["X-API-Key", "Authorization", "Content-Type", "Content-Encoding"],
        expose_headers=["Retry-After"],
        allow_credentials=False,
        max_age=600,
    )


def _document_batch_schema(app: FastAPI) -> None:
    """Add ``EventBatch`` and ``Event`` to the OpenAPI components (the route reads raw bytes).

    The envelope's items are documented as free-form on purpose: each item is validated on its
    own against ``Event`` and an invalid one is answered in ``rejected`` (with a 202 for the
    rest), so an invalid item does not make the request invalid — the schema must say so, or
    schema-driven clients and fuzzers would expect a 422.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        definitions = EventBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        definitions["properties"]["events"]["items"] = {
            "description": "An event (schema: Event). Each is validated on its own; an invalid"
            " one is listed in the answer's `rejected` with its index and reasons."
        }
        components["EventBatch"] = definitions
        # A real example: "Try it out" in /docs sends it and gets a 202 with accepted 1.
        body = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
        body["example"] = _EVENTS_EXAMPLE
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
