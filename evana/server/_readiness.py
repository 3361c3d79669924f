"""Readiness: what ``/readyz``, ``/v1/status``, the log and the gauges say about the parts.

Three questions. Does the database answer (and, embedded, is its file still the one opened)?
Does the queue answer? And in production: does some worker consume what the API publishes?
The first two decide readiness (503 without them: nothing can be made durable). The third
does not, on purpose: with no worker the API still makes every batch durable in JetStream,
and taking it out of a load balancer would turn a backlog into events lost in clients. It is
reported beside them instead — ``"status": "degraded"``, ``"workers"`` and ``"pending"`` — and
as the ``evana_workers_consuming`` gauge and a log line when it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from evana.errors import EvanaError

from ._logging import quote
from ._metrics import Metrics
from ._queue import Backlog, EventQueue, NatsQueue
from ._storage import Database

__all__ = ["Readiness", "ReadinessMonitor"]

log = logging.getLogger("evana.readiness")

#: A check gives up on a part that has not answered within this many seconds.
_TIMEOUT = 5.0
#: A worker between two fetches has none open for a moment: "no worker" is said only after
#: this many looks, this far apart, all found none.
_LOOKS = 3
_LOOK_GAP = 0.3


@dataclass(frozen=True, slots=True)
class Readiness:
    """One look at every part; ``workers`` and ``backlog`` are None in embedded mode."""

    database: str
    queue: str
    workers: str | None = None
    backlog: Backlog | None = None

    @property
    def ready(self) -> bool:
        """True when the database and the queue answer: batches can be made durable."""
        return self.database == "ok" and self.queue == "ok"

    @property
    def status(self) -> str:
        """``ready``, ``degraded`` (ready, but events wait for a worker none runs), ``not_ready``.

        >>> Readiness("ok", "ok", "none: 12 messages waiting for a worker").status
        'degraded'
        """
        if not self.ready:
            return "not_ready"
        return "ready" if self.workers in (None, "ok", "none") else "degraded"

    def checks(self) -> dict[str, Any]:
        """The parts' states, as ``/readyz`` shows them."""
        out: dict[str, Any] = {"database": self.database, "queue": self.queue}
        if self.workers is not None:
            out["workers"] = self.workers
            out["pending"] = self.backlog.pending if self.backlog is not None else None
        return out

    def details(self, mode: str) -> dict[str, Any]:
        """Everything ``GET /v1/status`` (and ``evana status``) shows."""
        backlog = self.backlog
        return {
            "status": self.status,
            "mode": mode,
            "database": self.database,
            "queue": self.queue,
            "workers": self.workers,
            "pending": backlog.pending if backlog else None,
            "unacked": backlog.unacked if backlog else None,
            "dead_letters": backlog.dead_letters if backlog else None,
        }


class ReadinessMonitor:
    """Looks at the parts on demand (``/readyz``) and every ``every`` seconds (:meth:`watch`),
    keeping the gauges current and logging each change of state once."""

    def __init__(
        self, db: Database, queue: EventQueue, metrics: Metrics, *, busy_for: float = 30.0
    ) -> None:
        self.db = db
        self.queue = queue
        self.metrics = metrics
        self.busy_for = busy_for
        self._last: tuple[str, str, str | None] | None = None
        self._stop = asyncio.Event()
        file = db.file
        if file is not None:  # read at every scrape: a deleted file shows without a check
            metrics.database_file_missing.set_function(lambda: float(file.problem() is not None))

    async def check(self) -> Readiness:
        """Look at the database, the queue and (production) the workers."""
        database = await _answer(asyncio.to_thread(self.db.ping))
        queue = await _answer(self.queue.check())
        workers: str | None = None
        backlog: Backlog | None = None
        if isinstance(self.queue, NatsQueue):
            workers, backlog = "unknown", None
            if queue == "ok":
                try:
                    workers, backlog = await self._workers(self.queue)
                except (EvanaError, TimeoutError) as exc:
                    workers = f"unknown: {exc or 'timeout'}"
        found = Readiness(database, queue, workers, backlog)
        self._observe(found)
        return found

    async def _workers(self, queue: NatsQueue) -> tuple[str, Backlog]:
        for look in range(_LOOKS):
            if look:
                await asyncio.sleep(_LOOK_GAP)
            backlog = await asyncio.wait_for(queue.backlog(), _TIMEOUT)
            if backlog.consuming(dt.datetime.now(dt.UTC), self.busy_for):
                return "ok", backlog
            if backlog.pending == 0:
                return "none", backlog  # no worker, but nothing waits for one either
        return f"none: {backlog.pending} messages waiting for a worker", backlog

    def _observe(self, found: Readiness) -> None:
        backlog = found.backlog
        if backlog is not None:
            self.metrics.queue_lag.set(backlog.pending)
            self.metrics.queue_unacked.set(backlog.unacked)
            self.metrics.queue_dead_letters.set(backlog.dead_letters)
        if found.workers is not None and not found.workers.startswith("unknown"):
            self.metrics.workers_consuming.set(1 if found.workers == "ok" else 0)
        state = (found.database, found.queue, found.workers)
        if state == self._last:
            return
        first, self._last = self._last is None, state
        if first and found.status == "ready":
            return  # starting up as expected says nothing
        level = logging.INFO if found.status == "ready" else logging.WARNING
        log.log(
            level,
            "msg=readiness status=%s database=%s queue=%s workers=%s pending=%s",
            found.status,
            quote(found.database),
            quote(found.queue),
            quote(found.workers or "-"),
            backlog.pending if backlog is not None else "-",
        )

    async def watch(self, every: float = 10.0) -> None:
        """Check every ``every`` seconds until :meth:`stop` (the log and gauges stay current
        even when nobody asks ``/readyz``)."""
        if self.db.dialect.name == "sqlite" and self.db.file is None:
            # In memory (tests): one connection shared by every thread, which a check running
            # beside a request's transaction would disturb; and there is no file to lose.
            return
        while not self._stop.is_set():
            try:
                await self.check()
            except Exception:  # a bug here must not stop the watch (nor reach the server)
                log.exception("msg=readiness_check_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every)

    def stop(self) -> None:
        """End :meth:`watch` after the check under way, if any (never cancelled halfway: a
        database ping in its thread would outlive the engine it uses)."""
        self._stop.set()


async def _answer(call: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(call, timeout=_TIMEOUT)
    except (EvanaError, TimeoutError) as exc:
        return f"error: {exc or 'timeout'}"
    return "ok"
