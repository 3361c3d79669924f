"""The worker process: consume batches from JetStream, write them, serve metrics, stop cleanly.

Any number of worker processes share the stream's one durable consumer, so scaling out is
starting more of them. SIGTERM or SIGINT stops fetching, lets the batches already fetched be
written and acknowledged, and returns: nothing is cut off half way, and anything not yet
acknowledged is redelivered to another worker anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from evana._settings import Settings
from evana.errors import ConfigurationError, QueueError

from ._metrics import Metrics
from ._queue import NatsQueue
from ._storage import Database, EventStore, upgrade
from ._writer import BatchWriter, MeteredWriter

__all__ = ["Worker"]

log = logging.getLogger("evana.worker")

_LAG_EVERY = 5.0


class Worker:
    """One worker process's life: ``await Worker(settings).run()`` until SIGTERM or :meth:`stop`.

    ``concurrency`` batches are written at once (default ``EVANA_WORKER_CONCURRENCY``);
    ``metrics_port`` serves Prometheus metrics (default ``EVANA_METRICS_PORT``, 0: none).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.worker_concurrency
        self.metrics_port = settings.metrics_port if metrics_port is None else metrics_port
        self.metrics = Metrics()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask the worker to finish what it fetched and return from :meth:`run`."""
        self._stop.set()

    async def run(self) -> None:
        """Consume until stopped; raises QueueUnavailableError when NATS cannot be reached."""
        db = Database(self.settings.database_url)
        try:
            if self.settings.auto_migrate:
                await asyncio.to_thread(upgrade, db)
            store = EventStore(db)
            writers = [BatchWriter(store) for _ in range(self.concurrency)]
            queue = NatsQueue(self.settings, metrics=self.metrics, consumers=self.concurrency)
            await queue.start()
            try:
                await self._consume(queue, MeteredWriter(writers, self.metrics))
            finally:
                await queue.close()
        finally:
            db.dispose()
        log.info("msg=worker_stopped")

    async def _consume(self, queue: NatsQueue, handler: MeteredWriter) -> None:
        http = None
        if self.metrics_port:
            try:
                http = self.metrics.serve(self.metrics_port)
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot serve metrics on port {self.metrics_port}: {exc.strerror or exc}"
                    " (pass another --metrics-port, or 0 for none)"
                ) from None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        consuming = asyncio.create_task(queue.consume(handler))
        watching = asyncio.create_task(self._watch_lag(queue))
        stopping = asyncio.create_task(self._stop.wait())
        log.info(
            "msg=worker_started stream=%s consumer=%s concurrency=%d metrics_port=%d",
            queue.names.stream,
            queue.names.consumer,
            self.concurrency,
            self.metrics_port,
        )
        try:
            await asyncio.wait({consuming, stopping}, return_when=asyncio.FIRST_COMPLETED)
            log.info("msg=worker_draining")
            await queue.close()  # stops the loops once their fetched messages are settled
            await consuming  # raises if consuming failed on its own
        finally:
            for task in (watching, stopping):
                task.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            if http is not None:
                http.shutdown()
                http.server_close()

    async def _watch_lag(self, queue: NatsQueue) -> None:
        while True:
            with contextlib.suppress(QueueError):
                pending, unacked = await queue.lag()
                self.metrics.queue_lag.set(pending)
                self.metrics.queue_unacked.set(unacked)
            await asyncio.sleep(_LAG_EVERY)
