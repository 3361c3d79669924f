"""The worker process: consume batches from JetStream, write them, serve metrics, stop cleanly.

Any number of worker processes share the stream's one durable consumer, so scaling out is
starting more of them. SIGTERM or SIGINT stops fetching, lets the batches already fetched be
written and acknowledged, and returns: nothing is cut off half way, and anything not yet
acknowledged is redelivered to another worker anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
from wsgiref.simple_server import WSGIServer

from evana._settings import Settings, metrics_ports
from evana.errors import ConfigurationError, QueueError

from ._logging import quote
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
    ``metrics_port`` serves Prometheus metrics (default ``EVANA_METRICS_PORT``): a port, a
    range ``FIRST-LAST`` whose first free port is taken (so workers sharing a host need no
    port each), or 0 for none. Once running, :attr:`metrics_port` is the port served (0: none).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int | None = None,
        metrics_port: int | str | None = None,
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.worker_concurrency
        self.metrics_ports = metrics_ports(
            str(settings.metrics_port if metrics_port is None else metrics_port)
        )
        self.metrics_port = 0
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
                await self._consume(queue, MeteredWriter(writers, self.metrics), store)
            finally:
                await queue.close()
        finally:
            db.dispose()
        log.info("msg=worker_stopped")

    async def _consume(self, queue: NatsQueue, handler: MeteredWriter, store: EventStore) -> None:
        http = self._serve_metrics()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        consuming = asyncio.create_task(queue.consume(handler))
        watching = asyncio.create_task(self._watch_lag(queue))
        compacting = asyncio.create_task(self._compact(store))
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
            for task in (watching, compacting, stopping):
                task.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            if http is not None:
                http.shutdown()
                http.server_close()

    def _serve_metrics(self) -> WSGIServer | None:
        """Serve metrics on the first port of :attr:`metrics_ports` nobody else holds."""
        ports = self.metrics_ports
        for port in ports:
            try:
                http = self.metrics.serve(port)
            except OSError as exc:
                if len(ports) == 1:
                    raise ConfigurationError(
                        f"cannot serve metrics on port {port}: {exc.strerror or exc}"
                        " (pass another --metrics-port, or 0 for none)"
                    ) from None
                if exc.errno != errno.EADDRINUSE:
                    raise ConfigurationError(
                        f"cannot serve metrics on port {port}: {exc.strerror or exc}"
                    ) from None
                continue
            self.metrics_port = port
            return http
        if ports:
            raise ConfigurationError(
                f"cannot serve metrics: every port of {ports[0]}-{ports[-1]} is in use"
                " (pass a wider --metrics-port range, or 0 for none)"
            )
        return None

    async def _compact(self, store: EventStore) -> None:
        # Writes run a pass when one is due; the timer covers the quiet after a burst, so the
        # last deltas of every worker get merged too (by whichever worker has the turn).
        compactor = store.compactor
        while True:
            await asyncio.sleep(compactor.every_seconds)
            try:
                await asyncio.to_thread(compactor.tick)
            except Exception as exc:  # retried at the next tick
                log.warning("msg=compaction_failed error=%s", quote(exc))

    async def _watch_lag(self, queue: NatsQueue) -> None:
        while True:
            with contextlib.suppress(QueueError):
                pending, unacked = await queue.lag()
                self.metrics.queue_lag.set(pending)
                self.metrics.queue_unacked.set(unacked)
            await asyncio.sleep(_LAG_EVERY)
