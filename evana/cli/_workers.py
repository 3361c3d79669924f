"""``evana serve --workers N``: N API processes on one listening socket, under uvicorn's supervisor.

The parent has already bound the socket, migrated the database and made the first admin key
(``evana serve`` does that before anything else), so the processes it starts only serve: each
builds its app from the settings the parent resolved (flags included), handed down in the
environment, with migrations off. Each process has its own lifespan (its own writer in embedded
mode, its own NATS connection in production mode), its own ``/readyz`` and its own rate-limit
buckets. SIGTERM or Ctrl-C reach the parent, which stops every process gracefully (each drains
its requests and batches) and then exits 0.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from evana._heap import settle_heap
from evana._settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_worker_app", "run_workers"]

#: Carries ``--log-level`` to the processes (not a setting: Settings ignores unknown names).
_LOG_LEVEL = "EVANA_SERVE_LOG_LEVEL"


def create_worker_app() -> FastAPI:
    """The app of one worker process: settings from the environment the parent prepared."""
    from evana.server import create_app
    from evana.server._logging import configure_logging

    configure_logging(os.environ.get(_LOG_LEVEL, "info"))
    app = create_app(Settings())
    settle_heap()
    return app


def run_workers(
    settings: Settings, listener: socket.socket, *, workers: int, log_level: str
) -> None:
    """Serve ``settings``' app from ``workers`` processes on ``listener`` until SIGTERM/SIGINT."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # The flags win over the environment in the parent; the processes read the environment,
    # so it says what the parent resolved. The parent migrated already (when asked to).
    os.environ.update(
        {
            "EVANA_DATABASE_URL": settings.database_url,
            "EVANA_HOST": settings.host,
            "EVANA_PORT": str(settings.port),
            "EVANA_AUTO_MIGRATE": "false",
            _LOG_LEVEL: log_level,
        }
    )
    config = uvicorn.Config(
        f"{__name__}:create_worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        proxy_headers=True,
        workers=workers,
    )
    Multiprocess(config, sockets=[listener]).run()
