"""Process events every live client must hear of: interpreter exit and ``fork()``.

At exit, every client not yet closed sends what it still holds, all of them at once, each
within its ``shutdown_timeout``. In a forked child, every client starts over with an empty queue
(the parent still owns, and sends, what was queued before the fork), fresh locks (a lock held by
one of the parent's threads at the moment of the fork would stay locked forever in the child)
and its own connections.

The registry holds clients strongly until they are closed: an application that drops its last
reference to a client with events still queued (common with ``asyncio.run(main())``) must still
have them sent at exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from typing import Protocol

__all__ = ["Managed", "register", "sender_started", "unregister"]

log = logging.getLogger("evana.client")


class Managed(Protocol):
    """What the registry needs of a client."""

    def _exit_begin(self, deadline: float) -> None:
        """Start sending everything queued, without waiting (all clients start together)."""

    def _exit_finish(self, deadline: float) -> None:
        """Wait until everything is sent or ``deadline`` (``time.monotonic()``), then let go."""

    def _after_fork_in_child(self) -> None:
        """Start over in a forked child."""

    def _shutdown_timeout(self) -> float:
        """Seconds this client may spend sending at exit."""


_clients: dict[int, Managed] = {}
_lock = threading.Lock()
_installed = False
_finalizer_pid: int | None = None


def register(client: Managed) -> None:
    """Track ``client`` until :func:`unregister`; installs the exit and fork hooks once."""
    global _installed
    with _lock:
        _clients[id(client)] = client
        if not _installed:
            _installed = True
            atexit.register(_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)


def unregister(client: Managed) -> None:
    """Forget a closed client."""
    with _lock:
        _clients.pop(id(client), None)


def sender_started() -> None:
    """Called when a sender starts; makes multiprocessing's forked workers flush on exit too.

    ``multiprocessing`` ends a forked worker with ``os._exit()``, which skips ``atexit``; it
    runs its own finalizers instead, and clears them when the worker starts. So the hook is
    added here, from inside the worker, the first time one of its clients has work.
    """
    global _finalizer_pid
    util = sys.modules.get("multiprocessing.util")
    pid = os.getpid()
    if util is None or _finalizer_pid == pid:
        return
    _finalizer_pid = pid
    util.Finalize(None, _at_exit, exitpriority=0)


def _at_exit() -> None:
    with _lock:
        clients = list(_clients.values())
    if not clients:
        return
    start = time.monotonic()
    deadlines = [start + _safe_timeout(client) for client in clients]
    for client, deadline in zip(clients, deadlines, strict=True):
        _safely(client._exit_begin, deadline)
    for client, deadline in zip(clients, deadlines, strict=True):
        _safely(client._exit_finish, deadline)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for client in list(_clients.values()):
        _safely(client._after_fork_in_child)


def _safe_timeout(client: Managed) -> float:
    try:
        return float(client._shutdown_timeout())
    except Exception:
        return 0.0


def _safely(step: object, *args: float) -> None:
    try:
        step(*args)  # type: ignore[operator]
    except Exception:
        # One broken client must not keep the others from sending at exit.
        log.exception("evana: a client failed during %s", getattr(step, "__name__", step))
