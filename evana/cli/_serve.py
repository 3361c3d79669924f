"""``evana serve``: run the API."""

from __future__ import annotations

from typing import Annotated

import typer

from evana._heap import settle_heap
from evana._version import __version__

from ._config import load_settings
from ._output import console
from ._server_deps import server

__all__ = ["serve"]


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (env EVANA_HOST, default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (env EVANA_PORT, default 8000)")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (env EVANA_DATABASE_URL, default sqlite:///./evana.db)"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="API processes sharing the port (each with its own event loop; in embedded"
            " mode each writes to the database in turn). Migrations and the first admin key"
            " happen once, before they start. Rate limits are counted per process.",
        ),
    ] = 1,
) -> None:
    """Run the API: embedded (SQLite, in-process writes) unless EVANA_NATS_URL is set.

    On an empty database it creates an admin key and prints it once. SIGTERM or Ctrl-C
    finishes the requests in flight and the batches in hand, then exits 0. With --workers N,
    N processes answer on the one port; a stop stops them all.

    Example: evana serve --port 8000 --workers 4
    """
    settings = load_settings(host=host, port=port, database_url=database_url)
    srv = server()
    import uvicorn

    from ._uvicorn import Server, listen

    listener = listen(settings.host, settings.port)
    created = srv.prepare(settings)
    if created is not None:
        console.print(
            "[bold]Created the first admin key. It is shown only this once; store it now:[/]"
        )
        console.print(f"admin key: {created.key}", soft_wrap=True)
        console.print(f"  export EVANA_API_KEY={created.key}", soft_wrap=True)
    mode = (
        f"production mode (NATS {settings.nats_servers})"
        if not settings.embedded
        else "embedded mode (in-process writes)"
    )
    if workers > 1:
        mode += f", {workers} worker processes"
    console.print(
        f"evana {__version__} on http://{settings.host}:{settings.port} — {mode},"
        f" database {_redact(settings.database_url)}",
        soft_wrap=True,
    )
    # A wildcard address is not something to open in a browser: name this machine instead.
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{shown}]" if ":" in shown else shown
    console.print(
        f"dashboard: http://{host}:{settings.port}/"
        + (" (sign in with the admin key above)" if created is not None else ""),
        soft_wrap=True,
    )
    from evana.server._logging import configure_logging

    # evana's own lines (one per written batch, erasures, outages) as logfmt on stderr;
    # uvicorn keeps its own handlers for access and server lines.
    configure_logging(log_level)
    if workers > 1:
        from ._workers import run_workers

        run_workers(settings, listener, workers=workers, log_level=log_level)
        return
    config = uvicorn.Config(
        srv.create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        proxy_headers=True,
    )
    settle_heap()
    Server(config).run(sockets=[listener])


def _redact(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
