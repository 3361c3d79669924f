"""``evana worker``: consume batches from NATS JetStream and write them to the database."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Annotated

import typer

from evana._heap import settle_heap
from evana._version import __version__

from ._config import load_settings
from ._db import require_existing
from ._errors import CliError
from ._output import err_console
from ._server_deps import server

if TYPE_CHECKING:
    from evana._settings import Settings

__all__ = ["worker"]


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-c", help="Batches written at once (env EVANA_WORKER_CONCURRENCY; 1)"
        ),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            "-p",
            min=1,
            max=64,
            help="Worker processes to run (each serves its own metrics port of the range);"
            " SIGTERM stops them all",
        ),
    ] = 1,
    metrics_port: Annotated[
        str | None,
        typer.Option(
            help="Prometheus metrics port: PORT, FIRST-LAST (the first free one: workers on"
            " one host need no port each) or 0 for none (env EVANA_METRICS_PORT; 9464-9479);"
            " with --processes each process takes its own port",
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (env EVANA_DATABASE_URL)")
    ] = None,
    nats_url: Annotated[str | None, typer.Option(help="NATS server (env EVANA_NATS_URL)")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Write the events the API queued in NATS to the database (production mode).

    Run as many as you like: they share one durable consumer. --processes N
    runs N worker processes from this one command (a Python process uses one
    core at most).

    Each process serves its own Prometheus metrics on its own port: by default
    the first free one of 9464-9479, so workers side by side on one host take
    9464, 9465, ... (each logs its port at start: metrics_port=...). Scrape
    each of them.

    SIGTERM or Ctrl-C finishes the batches in hand and exits 0; with
    --processes every process does (if one fails, the others are stopped and
    its exit status is returned).

    Example: EVANA_NATS_URL=nats://localhost:4222 evana worker --processes 4
    """
    settings = load_settings(
        {"worker_concurrency": "--concurrency"},
        database_url=database_url,
        nats_url=nats_url,
        worker_concurrency=concurrency,
        metrics_port=metrics_port,
    )
    if processes > 1:
        from ._supervise import child_ports

        child_ports(settings.metrics_port, processes)  # a usage error before anything starts
    if settings.embedded:
        raise CliError(
            "evana worker needs NATS: set EVANA_NATS_URL (without it, `evana serve` writes"
            " events itself)"
        )
    require_existing(settings.database_url)
    if processes > 1:
        _run_processes(processes, settings, concurrency, database_url, nats_url, log_level)
        return
    server()
    from evana.server._logging import configure_logging
    from evana.server._worker import Worker

    configure_logging(log_level)
    err_console.print(
        f"evana {__version__} worker: {settings.nats_subject_prefix}.ingest on"
        f" {settings.nats_servers}, concurrency {settings.worker_concurrency}",
        soft_wrap=True,
    )
    settle_heap()
    asyncio.run(Worker(settings).run())


def _run_processes(
    processes: int,
    settings: Settings,
    concurrency: int | None,
    database_url: str | None,
    nats_url: str | None,
    log_level: str,
) -> None:
    from ._supervise import child_env, child_ports, supervise

    ports = child_ports(settings.metrics_port, processes)
    # Through the environment, not arguments: a database URL may hold a password.
    env = child_env(
        os.environ,
        database_url=database_url,
        nats_url=nats_url,
        worker_concurrency=None if concurrency is None else str(concurrency),
        metrics_port=ports,
    )
    err_console.print(
        f"evana {__version__} worker: {processes} processes, metrics ports {ports}",
        soft_wrap=True,
    )
    status = supervise(processes, ["--log-level", log_level], env)
    if status:
        raise typer.Exit(status)
