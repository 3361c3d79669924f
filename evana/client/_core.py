"""What ``Client`` and ``AsyncClient`` share: admitting events, queueing, sending, settling.

The two clients differ only in how they wait (a thread and ``threading`` primitives, or a task
and ``asyncio`` ones); every decision about an event or a batch is made here, once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from evana._uuid import uuid7
from evana.errors import (
    ConfigurationError,
    EvanaError,
    InvalidEventError,
    QueueFullError,
    TransportError,
)
from evana.schema import IngestResult

from ._config import ClientOptions
from ._encode import encode_event
from ._queue import DUPLICATE, QUEUED, READY, REFUSED, EventQueue, Item, Put
from ._reporting import ClientMetrics, Reporter
from ._retry import AsyncSleep, Backoff, Sleep, acall, call
from ._stats import ReadBound
from ._transport import AsyncTransport, Request, Transport
from ._wire import BATCH_OVERHEAD, get_request, ingest_request, parse_model, post_request

__all__ = ["Core"]

log = logging.getLogger("evana.client")

Model = TypeVar("Model", bound=BaseModel)
T = TypeVar("T")


class Core:
    """One client's options, queue and delivery logic (transport-agnostic); ``report`` counts
    and tells the application what happened to its events."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.queue = self.new_queue()
        self.closed = False
        #: While closing: no retry starts after this ``time.monotonic()`` instant.
        self.deadline: float | None = None
        self.report = Reporter(options)

    def transport(self, protocol: type[T], default: Callable[..., T], needs: str) -> T:
        """The transport given in the options (checked against ``protocol``), else ``default``."""
        given = self.options.transport
        if given is None:
            opts = self.options
            return default(opts.url, timeout=opts.timeout, connect_timeout=opts.connect_timeout)
        if not isinstance(given, protocol):
            raise ConfigurationError(f"this client needs a transport with {needs}()")
        return given

    def new_queue(self) -> EventQueue:
        """An empty queue with this client's limits."""
        opts = self.options
        return EventQueue(
            max_size=opts.max_queue_size,
            flush_at=opts.flush_at,
            max_batch_bytes=opts.max_batch_bytes - BATCH_OVERHEAD,
            dedup_window=opts.dedup_window,
        )

    def after_fork(self) -> None:
        """Start over in a forked child: empty queue (the parent sends its own), fresh lock."""
        self.report.after_fork(self.queue)
        self.queue = self.new_queue()

    def metrics(self) -> ClientMetrics:
        """A snapshot of the counters."""
        return self.report.metrics(self.queue)

    # -- admitting events (the application's thread) ------------------------------------------

    def admit(
        self,
        event: str,
        user_id: str | int,
        properties: Mapping[str, Any] | None,
        timestamp: Any,
        event_id: Any,
    ) -> tuple[uuid.UUID, Item | None]:
        """Validate and encode one event: its id, and the queue item (None when not to send)."""
        if event_id is None:
            event_id = uuid7()
        if self.options.disabled:
            return (event_id if isinstance(event_id, uuid.UUID) else uuid7()), None
        try:
            event_id, data = encode_event(event, user_id, properties, timestamp, event_id)
        except InvalidEventError as exc:
            self.report.count("invalid")
            raw: dict[str, Any] = {"event_id": str(event_id), "event": event, "user_id": user_id}
            raw.update(timestamp=timestamp, properties=properties)
            self.report.error([raw], exc)
            if self.options.strict:
                raise
            return (event_id if isinstance(event_id, uuid.UUID) else uuid7()), None
        if self.closed:
            self.report.drop([data], "closed")
            if self.options.strict:
                raise EvanaError("the client is closed: the event was not sent")
            return event_id, None
        return event_id, (event_id.int, data)

    def idle(self, *, flushing: bool, stopping: bool) -> bool | None:
        """What the sender does next: None stop, True wait (for a wake-up or the interval),
        False take a batch now (a full one, or anything when flushing or closing)."""
        queue = self.queue
        if stopping and not len(queue):
            return None
        return not (queue.ready() or ((flushing or stopping) and len(queue)))

    def offer(self, item: Item) -> Put:
        """Queue ``item`` by the full-queue policy; FULL means "block": wait for room, retry."""
        put = self.queue.put(*item)
        if put is QUEUED or put is READY:
            return put
        if put is DUPLICATE:
            self.report.count("duplicates")
            return put
        if self.options.on_full == "block":
            return put
        self.refuse(item)
        return REFUSED

    def refuse(self, item: Item) -> None:
        """Drop ``item`` for want of room (``on_full="raise"``: raise ``QueueFullError``)."""
        if self.options.on_full == "raise":
            self.report.count("dropped")
            raise QueueFullError(f"the event queue is full ({self.options.max_queue_size} events)")
        self.report.drop([item[1]], "queue_full")

    def track_failed(self, exc: Exception, event_id: object) -> uuid.UUID:
        """``track()`` hit something unexpected: re-raise only when asked to, else log it."""
        if self.options.strict or isinstance(exc, QueueFullError):
            raise exc
        log.error("evana: track() failed; the event was not sent", exc_info=exc)
        return event_id if isinstance(event_id, uuid.UUID) else uuid7()

    def begin_close(self, timeout: float | None) -> float:
        """Mark closed; return the deadline (``time.monotonic()``) that no retry may pass."""
        self.closed = True
        wait = self.options.shutdown_timeout if timeout is None else max(0.0, timeout)
        self.deadline = time.monotonic() + wait
        return self.deadline

    def drop_queued(self) -> bool:
        """At the end of a close: report what is still queued as dropped; True if anything."""
        left = self.queue.clear()
        if left:
            self.report.drop(_data(left), "shutdown")
        return bool(left)

    def settle(self, batch: list[Item], outcome: IngestResult | EvanaError) -> None:
        """Account for a batch the sender is done with, report what was not delivered."""
        self.report.count("batches")
        if isinstance(outcome, IngestResult):
            rejected = [r for r in outcome.rejected if 0 <= r.index < len(batch)]
            self.report.count("delivered", outcome.accepted)
            self.report.count("rejected", len(rejected))
            for item in rejected:
                reason = "rejected by the server: " + "; ".join(item.errors)
                self.report.error([batch[item.index][1]], InvalidEventError(reason, item.errors))
            self.queue.done(batch)
            return
        self.report.count("failed", len(batch))
        # Never delivered: the application may track these ids again.
        self.queue.done(batch, forget=True)
        self.report.error([data for _, data in batch], outcome)

    # -- sending ------------------------------------------------------------------------------

    def _counting(self, sleep: Sleep) -> Sleep:
        def counted(seconds: float) -> bool:
            # Counted as the wait starts, so metrics show a retry that is under way.
            self.report.count("retries")
            return sleep(seconds)

        return counted

    def _acounting(self, sleep: AsyncSleep) -> AsyncSleep:
        async def counted(seconds: float) -> bool:
            self.report.count("retries")
            return await sleep(seconds)

        return counted

    def backoff(self) -> Backoff:
        """The retry state of one request."""
        return Backoff(self.options.retry, deadline=lambda: self.deadline)

    def ingest(self, events: Sequence[bytes], *, stamped: bool = True) -> Request:
        """The request for one attempt at sending ``events`` (with ``sent_at`` when stamped)."""
        return ingest_request(
            events, self.options.api_key, compress=self.options.gzip, stamped=stamped
        )

    def send(
        self, transport: Transport, events: Sequence[bytes], sleep: Sleep, *, stamped: bool = True
    ) -> IngestResult:
        """Send encoded events as one batch, retrying; raises the final ``EvanaError``.

        ``stamped=False`` sends no ``sent_at``: the events' timestamps are facts (``send_batch``,
        ``evana ingest``), never corrected for the sender's clock.
        """
        answer = call(
            lambda: transport.handle_request(self.ingest(events, stamped=stamped)),
            self.backoff(),
            self._counting(sleep),
        )
        return parse_model(answer, IngestResult)

    async def asend(
        self,
        transport: AsyncTransport,
        events: Sequence[bytes],
        sleep: AsyncSleep,
        *,
        stamped: bool = True,
    ) -> IngestResult:
        """The asyncio twin of :meth:`send`."""
        answer = await acall(
            lambda: transport.handle_async_request(self.ingest(events, stamped=stamped)),
            self.backoff(),
            self._acounting(sleep),
        )
        return parse_model(answer, IngestResult)

    def deliver(self, transport: Transport, batch: list[Item], sleep: Sleep) -> None:
        """Send one batch and settle it; never raises (this runs on the sender)."""
        try:
            outcome: IngestResult | EvanaError = self.send(transport, _data(batch), sleep)
        except EvanaError as exc:
            outcome = exc
        except Exception as exc:  # a broken transport must not end the sender
            outcome = _unexpected(exc)
        self.settle(batch, outcome)

    async def adeliver(
        self, transport: AsyncTransport, batch: list[Item], sleep: AsyncSleep
    ) -> None:
        """The asyncio twin of :meth:`deliver`."""
        try:
            outcome: IngestResult | EvanaError = await self.asend(transport, _data(batch), sleep)
        except EvanaError as exc:
            outcome = exc
        except Exception as exc:
            outcome = _unexpected(exc)
        self.settle(batch, outcome)

    def drain(self, transport: Transport, sleep: Sleep) -> None:
        """Send everything queued, batch after batch, on the calling thread."""
        while batch := self.queue.take():
            self.deliver(transport, batch, sleep)

    def get(
        self,
        transport: Transport,
        path: str,
        params: Mapping[str, str],
        model: type[Model],
        sleep: Sleep,
    ) -> Model:
        """A read-API call, retried like a batch but within ``stats_timeout`` in all (someone
        is waiting for it), answered as ``model``."""
        request = get_request(path, params, self.options.api_key)
        return self.read(transport, request, model, sleep)

    def post(
        self,
        transport: Transport,
        path: str,
        body: Mapping[str, Any],
        model: type[Model],
        sleep: Sleep,
    ) -> Model:
        """A query-API call (``POST`` of a JSON body that writes nothing): bounded and retried
        like :meth:`get`, since asking again cannot count anything twice."""
        request = post_request(path, _json(body), self.options.api_key)
        return self.read(transport, request, model, sleep)

    def read(
        self, transport: Transport, request: Request, model: type[Model], sleep: Sleep
    ) -> Model:
        """Send a request that only reads, within ``stats_timeout``; the answer as ``model``."""
        bound = ReadBound(self.options, request, self)
        with bound.explained():
            answer = call(lambda: transport.handle_request(bound.attempt()), bound.backoff, sleep)
        return parse_model(answer, model)

    async def aget(
        self,
        transport: AsyncTransport,
        path: str,
        params: Mapping[str, str],
        model: type[Model],
        sleep: AsyncSleep,
    ) -> Model:
        """The asyncio twin of :meth:`get`."""
        request = get_request(path, params, self.options.api_key)
        return await self.aread(transport, request, model, sleep)

    async def apost(
        self,
        transport: AsyncTransport,
        path: str,
        body: Mapping[str, Any],
        model: type[Model],
        sleep: AsyncSleep,
    ) -> Model:
        """The asyncio twin of :meth:`post`."""
        request = post_request(path, _json(body), self.options.api_key)
        return await self.aread(transport, request, model, sleep)

    async def aread(
        self, transport: AsyncTransport, request: Request, model: type[Model], sleep: AsyncSleep
    ) -> Model:
        """The asyncio twin of :meth:`read`."""
        bound = ReadBound(self.options, request, self)
        with bound.explained():
            try:
                async with asyncio.timeout(self.options.stats_timeout):
                    answer = await acall(
                        lambda: transport.handle_async_request(bound.attempt()),
                        bound.backoff,
                        sleep,
                    )
            except TimeoutError:
                raise TransportError(f"{bound.line}: TimeoutError: no answer") from None
        return parse_model(answer, model)


def _json(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _data(batch: Iterable[Item]) -> list[bytes]:
    return [data for _, data in batch]


def _unexpected(exc: Exception) -> TransportError:
    log.error("evana: unexpected error while sending", exc_info=exc)
    return TransportError(f"unexpected {type(exc).__name__} while sending: {exc}")
