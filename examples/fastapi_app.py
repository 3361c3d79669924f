"""A FastAPI service that tracks every request through a middleware.

One ``AsyncClient`` lives as long as the app (made and closed in the lifespan, so the events
still queued at shutdown are sent). The middleware tracks an ``http_request`` event per request,
with the route template (``/items/{item_id}``, not ``/items/42``), method, status and duration.
The user comes from an ``X-User-Id`` header here; use your own authentication instead.

    pip install 'evana[server]'        # FastAPI and uvicorn
    export EVANA_URL=http://127.0.0.1:8000 EVANA_API_KEY=evana_...   # an ingest key is enough
    python examples/fastapi_app.py --port 8080
    curl -H 'X-User-Id: u_42' http://127.0.0.1:8080/items/42
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import uvicorn
from fastapi import FastAPI, Request, Response

import evana


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """One client for the app's lifetime; closing it sends what is still queued."""
    async with evana.AsyncClient() as client:
        app.state.evana = client
        yield


app = FastAPI(lifespan=lifespan)


@app.middleware("http")
async def track_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Track one ``http_request`` event per request; never slows or breaks the request."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    await request.app.state.evana.track(
        "http_request",
        user_id=request.headers.get("X-User-Id", "anonymous"),
        properties={
            "method": request.method,
            "route": getattr(route, "path", request.url.path),
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    """An endpoint of the service."""
    return {"item_id": item_id}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the example service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)
