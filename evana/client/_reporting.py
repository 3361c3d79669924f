"""Telling the application what became of its events: counters, ``on_error``, ``on_drop``, logs.

Nothing is lost silently: every event that does not reach the server is counted, and goes to
a callback, or (without one) to the ``evana.client`` logger.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from evana.errors import EvanaError

from ._config import ClientOptions
from ._queue import EventQueue

__all__ = ["ClientMetrics", "Reporter"]

log = logging.getLogger("evana.client")


@dataclass(frozen=True, slots=True)
class ClientMetrics:
    """What a client did since it was made (a snapshot; ``client.metrics``).

    ``tracked`` events entered the queue; each then ends as ``delivered`` (accepted by the
    server), ``rejected`` (refused by the server's validation), ``failed`` (not delivered within
    the retry budget, or refused as a whole) or, at shutdown, ``dropped``. ``dropped`` also
    counts events refused by a full queue or a closed client; ``duplicates`` and ``invalid`` were
    never queued. ``queued`` is what is waiting or being sent right now.

    >>> ClientMetrics().delivered
    0
    """

    queued: int = 0
    tracked: int = 0
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    dropped: int = 0
    duplicates: int = 0
    invalid: int = 0
    retries: int = 0
    batches: int = 0


def _call_safely(callback: Callable[..., object], name: str, *args: object) -> None:
    try:
        callback(*args)
    except Exception:
        # The application's callback must never take the sender down with it.
        log.exception("evana: the %s callback raised; the client carries on", name)


def _payload(event: bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(event, bytes):
        payload: dict[str, Any] = json.loads(event)
        return payload
    return dict(event)


class Reporter:
    """One client's counters and callbacks (thread-safe).

    >>> from evana.client import ClientOptions
    >>> reporter = Reporter(ClientOptions.build("http://127.0.0.1:8000", "key"))
    >>> reporter.count("delivered", 3)
    >>> reporter.trouble()
    (0, 0)
    """

    def __init__(self, options: ClientOptions) -> None:
        self._options = options
        self._counts = dict.fromkeys((f.name for f in fields(ClientMetrics)), 0)
        self._lock = threading.Lock()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to one counter."""
        if n:
            with self._lock:
                self._counts[name] += n

    def metrics(self, queue: EventQueue) -> ClientMetrics:
        """A snapshot of the counters, with what ``queue`` holds and has taken."""
        with self._lock:
            counts = dict(self._counts)
        counts["queued"] = queue.pending
        counts["tracked"] += queue.accepted
        return ClientMetrics(**counts)

    def trouble(self) -> tuple[int, int]:
        """(rejected, failed) so far: a flush compares them before and after."""
        with self._lock:
            return self._counts["rejected"], self._counts["failed"]

    def after_fork(self, old_queue: EventQueue) -> None:
        """In a forked child: keep the counts, take a fresh lock (the old one may be held)."""
        self._counts["tracked"] += old_queue.accepted
        self._lock = threading.Lock()

    def error(self, events: Sequence[bytes | Mapping[str, Any]], error: EvanaError) -> None:
        """Tell ``on_error`` (or the log) about events that were not delivered."""
        callback = self._options.on_error
        if callback is None:
            log.warning("evana: %d event(s) not delivered: %s", len(events), error)
            return
        for event in events:
            _call_safely(callback, "on_error", _payload(event), error)

    def drop(self, events: Sequence[bytes], reason: str) -> None:
        """Count dropped events and tell ``on_drop`` (or, sparingly, the log)."""
        with self._lock:
            before = self._counts["dropped"]
            self._counts["dropped"] = total = before + len(events)
        callback = self._options.on_drop
        if callback is not None:
            for event in events:
                _call_safely(callback, "on_drop", _payload(event), reason)
        elif reason != "queue_full" or len(str(total)) > len(str(before)):
            # A full queue is logged at 1, 10, 100, ... drops: never silent, never a flood.
            log.warning("evana: dropped %d event(s) (%s); %d so far", len(events), reason, total)
