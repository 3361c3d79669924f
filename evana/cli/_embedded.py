"""A throwaway embedded evana server inside this process: a temporary SQLite database, a free
port, an admin key made directly in the database (as ``evana serve`` does on first start).

``evana demo`` uses it when no server answers. It runs uvicorn on a thread of its own, so the
CLI keeps talking to it over HTTP like to any other server; the database and the port are gone
when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ._errors import CliError
from ._server_deps import server

__all__ = ["temporary_server"]

_START_TIMEOUT = 30.0


@contextlib.contextmanager
def temporary_server() -> Iterator[tuple[str, str]]:
    """Run an embedded server until the block ends; yields its URL and an admin key.

    Example::

        with temporary_server() as (url, key):
            evana.Client(url, key).send_batch([{"event": "signup", "user_id": "u_42"}])
    """
    srv = server()
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="evana-demo-") as directory:
        database = Path(directory) / "evana.db"
        settings = srv.Settings(
            database_url=f"sqlite:///{database}", nats_url=None, auto_migrate=True
        )
        created = srv.prepare(settings)
        if created is None:  # pragma: no cover - a new database always gets its first key
            raise CliError("the temporary database already had keys")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            srv.create_app(settings), log_level="warning", ws="none", access_log=False
        )
        runner = uvicorn.Server(config)
        thread = threading.Thread(
            target=runner.run, kwargs={"sockets": [listener]}, name="evana-demo", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while not runner.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise CliError("the temporary evana server did not start")
                time.sleep(0.02)
            yield f"http://127.0.0.1:{port}", created.key
        finally:
            runner.should_exit = True
            thread.join(_START_TIMEOUT)
            listener.close()
