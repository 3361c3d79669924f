"""Running uvicorn for ``evana serve``: a socket bound up front, and a clean exit on a stop.

Imported only inside the command (uvicorn is heavy, and ``evana --help`` must stay instant).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn

from ._errors import CliError

__all__ = ["Server", "listen"]


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, or a CliError that says why not.

    Bound before anything else happens, so a busy port is one clear line (not uvicorn's log
    lines and exit 3 after the app has started) and no first admin key is made and printed
    for a server that will not run.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = ": another process is listening there (stop it, or pass --port)"
        elif exc.errno == errno.EACCES:
            hint = ": permission denied (ports below 1024 need privileges; pass --port)"
        else:
            hint = f": {exc.strerror or exc}"
        raise CliError(f"cannot listen on {host}:{port}{hint}") from None


class Server(uvicorn.Server):
    """uvicorn's server, where a stop asked by SIGTERM or SIGINT ends with exit status 0.

    uvicorn (0.29 and later) drains, then raises the signal it caught again, so the process
    dies of it: exit -15 on SIGTERM, which orchestrators and ``systemctl stop`` report as a
    failure of a normal stop. Here the same handler drains (requests in flight finish, the
    lifespan writes what it holds) and ``run`` simply returns.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to uvicorn's graceful exit while serving; re-raise none."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {signum: signal.signal(signum, self.handle_exit) for signum in stops}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
