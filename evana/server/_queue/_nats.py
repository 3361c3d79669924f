"""The production queue: batches published to NATS JetStream, consumed by ``evana worker``.

``publish`` returns once JetStream acknowledged every message of the batch (stored on disk).
A batch bigger than the server's ``max_payload`` is split into several messages with ids
``<batch id>-<part>``, all published before ``publish`` returns. If some parts were stored and
another failed, the API still answers 503: the client resends the whole batch, the stored parts
are dropped as duplicates within the stream's window, and the events' ids make any later copy
harmless, so the retry counts nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from evana._settings import Settings
from evana.errors import QueueUnavailableError
from evana.server._logging import quote
from evana.server._metrics import Metrics

from ._base import Batch, BatchHandler
from ._codec import encode
from ._deadletter import RetryLedger
from ._delivery import Delivery, Item
from ._jetstream import HEADER_ROOM, Names, connect, ensure_consumer, ensure_streams, unavailable

__all__ = ["Backlog", "NatsQueue"]

log = logging.getLogger("evana.nats")

# A fetch waits this long for messages. It returns as soon as some arrive, so it costs no
# latency; it bounds how long a stopping worker waits for an idle fetch to end.
_FETCH_WAIT = 1.0
_OUTAGE_PAUSE = 0.5
_CONSUMER_CHECK_EVERY = 5.0


@dataclass(frozen=True, slots=True)
class Backlog:
    """The ingest stream as the workers see it, from JetStream's consumer and stream info."""

    #: Messages no worker has taken yet.
    pending: int
    #: Messages delivered to a worker and not yet acknowledged (or waiting out a retry delay).
    unacked: int
    #: Fetch requests workers have open right now: an idle worker always has one (it fetches
    #: again as soon as one ends, every second at most).
    pulls: int
    #: When the consumer last delivered a message; None if it never has (or does not exist).
    last_delivery: dt.datetime | None
    #: Entries in the dead-letter stream.
    dead_letters: int

    def consuming(self, now: dt.datetime, busy_for: float) -> bool:
        """Whether some worker is consuming: it has a fetch open, or took messages within
        ``busy_for`` seconds (a worker busy writing has no fetch open meanwhile)."""
        if self.pulls > 0:
            return True
        recent = self.last_delivery is not None and (
            (now - self.last_delivery).total_seconds() < busy_for
        )
        return recent and self.unacked > 0


class NatsQueue:
    """An :class:`EventQueue` on NATS JetStream (``EVANA_NATS_URL``).

    The API only publishes; workers consume with ``consumers`` concurrent fetch-and-write
    loops, each bound to the durable consumer every worker process shares.
    """

    def __init__(
        self, settings: Settings, *, metrics: Metrics | None = None, consumers: int | None = None
    ) -> None:
        self.settings = settings
        self.names = Names.of(settings.nats_subject_prefix)
        self.metrics = metrics if metrics is not None else Metrics()
        self._consumers = consumers or settings.worker_concurrency
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._closing = False
        self._consuming: asyncio.Future[None] | None = None
        self._ensuring: asyncio.Task[None] | None = None
        self._consumer_checked = time.monotonic()
        self._per_message = 1.0  # events per message, a moving average; 1: unknown yet

    async def start(self) -> None:
        """Connect and create (or check) the streams; QueueUnavailableError when NATS is away."""
        self._nc = await connect(
            self.settings,
            disconnected_cb=self._on_disconnect,
            reconnected_cb=self._on_reconnect,
        )
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        try:
            await ensure_streams(self._js, self.names, self.settings)
        except (nats.errors.Error, TimeoutError) as exc:
            await self._nc.close()
            raise unavailable(exc, "cannot create the JetStream streams") from None

    async def _on_disconnect(self) -> None:
        if self._nc is not None and not self._closing:  # not a failed first connect, not close
            log.warning("msg=nats_disconnected url=%s", self.settings.nats_servers)

    async def _on_reconnect(self) -> None:
        log.warning("msg=nats_reconnected url=%s", self.settings.nats_servers)
        # The server may be a new one without our streams (a lost volume): make them again.
        self._ensure_soon()

    def _ensure_soon(self) -> None:
        # A task of its own: the reconnect callback runs inside nats-py's reconnection.
        if self._ensuring is None or self._ensuring.done():
            self._ensuring = asyncio.create_task(self._ensure_streams())

    async def _ensure_streams(self) -> None:
        if self._js is None:
            return
        try:
            await ensure_streams(self._js, self.names, self.settings)
        except Exception as exc:  # logged, never raised into nats-py's reconnection
            log.error("msg=streams_unavailable error=%s", quote(exc))

    def _jetstream(self) -> tuple[Client, JetStreamContext]:
        if self._closing or self._nc is None or self._js is None:
            raise QueueUnavailableError("the NATS queue is closed")
        if not self._nc.is_connected:
            raise QueueUnavailableError(f"not connected to NATS at {self.settings.nats_servers}")
        return self._nc, self._js

    async def publish(self, batch: Batch) -> None:
        """Publish ``batch`` and wait for JetStream's acks; QueueUnavailableError otherwise."""
        nc, js = self._jetstream()
        parts = encode(batch, nc.max_payload - HEADER_ROOM)
        with self.metrics.publish_seconds.time():
            results = await asyncio.gather(
                *(
                    js.publish(
                        self.names.ingest_subject,
                        part,
                        timeout=self.settings.publish_timeout_seconds,
                        stream=self.names.stream,
                        headers={"Nats-Msg-Id": f"{batch.id}-{number}"},
                    )
                    for number, part in enumerate(parts)
                ),
                return_exceptions=True,
            )
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, nats.js.errors.NoStreamResponseError):
                    self._ensure_soon()  # the stream is gone (a wiped server): make it again
                if isinstance(result, nats.errors.Error | TimeoutError):
                    raise unavailable(result, "JetStream did not store the batch") from None
                raise result
        self.metrics.messages_published.inc(len(parts))

    async def consume(self, handler: BatchHandler) -> None:
        """Fetch, write and settle messages until :meth:`close` (the worker's main loop)."""
        nc, js = self._jetstream()
        done = self._consuming = asyncio.get_running_loop().create_future()
        try:
            try:
                await ensure_consumer(js, self.names, self.settings)
                ledger = RetryLedger(await js.key_value(self.names.ledger_bucket))
            except (nats.errors.Error, TimeoutError) as exc:
                raise unavailable(exc, "cannot create the JetStream consumer") from None
            delivery = Delivery(
                js, self.names, handler, ledger, self.settings, self.metrics, nc.max_payload
            )
            await asyncio.gather(*(self._loop(js, delivery) for _ in range(self._consumers)))
        finally:
            done.set_result(None)

    async def _loop(self, js: JetStreamContext, delivery: Delivery) -> None:
        # Each loop has its own subscription: concurrent fetches on one would share an inbox
        # and take each other's messages.
        sub = await js.pull_subscribe_bind(self.names.consumer, stream=self.names.stream)
        try:
            while not self._closing:
                try:
                    msgs = await sub.fetch(self._fetch_size(0), timeout=_FETCH_WAIT)
                except TimeoutError:
                    await self._check_consumer(js)
                    continue
                except nats.errors.Error as exc:  # disconnected: the client reconnects alone
                    log.debug("msg=fetch_failed error=%s", quote(exc))
                    await asyncio.sleep(_OUTAGE_PAUSE)
                    # Or the consumer is gone: NATS 2.11+ answers a fetch from a deleted one
                    # with 503 "no responders" at once, where 2.9 let it time out.
                    await self._check_consumer(js)
                    continue
                # Whatever was fetched is written and settled, even when close() is under way.
                await delivery.write(await self._gather(sub, delivery, msgs))
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _gather(
        self, sub: JetStreamContext.PullSubscription, delivery: Delivery, msgs: list[Msg]
    ) -> list[Item]:
        """The messages of one transaction: ``msgs`` and more, fetched until they hold
        ``worker_batch_events`` events or ``worker_batch_seconds`` passed.

        Transactions sized by events, not by messages: a busy queue split between many
        workers hands each fetch a few messages, and a transaction per fetch would cost a
        commit and a rollup row per key for every few hundred events.
        """
        items = await delivery.take(msgs)
        events = sum(len(item.batch.events) for item in items)
        target = self.settings.worker_batch_events
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.worker_batch_seconds
        while events < target and not self._closing:
            left = deadline - loop.time()
            if left < 0.005:
                break
            try:
                more = await sub.fetch(self._fetch_size(events), timeout=left)
            except (TimeoutError, nats.errors.Error):
                break  # nothing more in time (or disconnected): write what is in hand
            for item in await delivery.take(more):
                items.append(item)
                events += len(item.batch.events)
        if items:  # what a message holds here, to fetch about what the target needs
            self._per_message = 0.8 * self._per_message + 0.2 * (events / len(items))
        return items

    def _fetch_size(self, events: int) -> int:
        """Messages to fetch for a transaction that holds ``events`` so far: about what the
        target still needs (messages of big batches hold thousands), at most a fetch batch."""
        wanted = (self.settings.worker_batch_events - events) / max(self._per_message, 1.0)
        return max(1, min(self.settings.worker_fetch_batch, math.ceil(wanted)))

    async def _check_consumer(self, js: JetStreamContext) -> None:
        """While idle or failing, make sure the consumer still exists (a NATS server that lost
        its store, or whose stream was deleted, has none): make it again when it is gone.
        """
        now = time.monotonic()
        if now - self._consumer_checked < _CONSUMER_CHECK_EVERY:
            return
        self._consumer_checked = now
        try:
            await js.consumer_info(self.names.stream, self.names.consumer)
        except nats.js.errors.NotFoundError:
            log.warning("msg=consumer_missing consumer=%s", self.names.consumer)
            try:
                await ensure_streams(js, self.names, self.settings)
                await ensure_consumer(js, self.names, self.settings)
            except Exception as exc:  # tried again at the next check
                log.error("msg=consumer_unavailable error=%s", quote(exc))
        except (nats.errors.Error, TimeoutError):
            pass  # disconnected: nothing to learn now

    async def check(self) -> None:
        """Raise QueueUnavailableError unless NATS is connected and the ingest stream answers."""
        _, js = self._jetstream()
        try:
            await js.stream_info(self.names.stream)
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, f"stream {self.names.stream}") from None

    async def lag(self) -> tuple[int, int]:
        """(messages waiting for a worker, messages delivered but not yet acknowledged)."""
        _, js = self._jetstream()
        try:
            info = await js.consumer_info(self.names.stream, self.names.consumer)
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, f"consumer {self.names.consumer}") from None
        return info.num_pending or 0, info.num_ack_pending or 0

    async def backlog(self) -> Backlog:
        """What waits in the ingest stream, whether workers fetch, and the dead letters.

        Before any worker has run, the consumer does not exist: every stored message waits.
        """
        _, js = self._jetstream()
        try:
            dead = (await js.stream_info(self.names.dlq_stream)).state.messages
            try:
                info = await js.consumer_info(self.names.stream, self.names.consumer)
            except nats.js.errors.NotFoundError:
                waiting = (await js.stream_info(self.names.stream)).state.messages
                return Backlog(waiting, 0, 0, None, dead)
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, f"consumer {self.names.consumer}") from None
        last = info.delivered.last_active if info.delivered is not None else None
        return Backlog(
            info.num_pending or 0,
            info.num_ack_pending or 0,
            info.num_waiting or 0,
            last if last is None or last.tzinfo else last.replace(tzinfo=dt.UTC),
            dead or 0,
        )

    async def close(self) -> None:
        """Stop fetching, finish and settle what was fetched, then disconnect."""
        if self._closing:
            return
        self._closing = True
        if self._consuming is not None:  # the loops see _closing after their current fetch
            await asyncio.shield(self._consuming)
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await self._nc.flush(timeout=2)  # the last acks reach the server
            await self._nc.close()
