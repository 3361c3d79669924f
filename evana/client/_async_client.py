"""``evana.AsyncClient``: ``Client`` for asyncio; one task sends, and exit still flushes.

The sender task lives on the event loop of the first ``track()``. When that loop goes away
(``asyncio.run()`` returns and cancels the task, which puts its batch back) and events are still
queued, the exit hook sends them from the exiting thread with a plain synchronous transport: a
new event loop at interpreter exit may not get the threads its DNS lookups need.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

from pydantic import BaseModel

from evana.schema import Event, IngestResult

from . import _lifecycle
from ._config import ClientKwargs, ClientOptions
from ._core import Core
from ._encode import encode_prepared
from ._identity import ALIAS, IDENTIFY, alias_properties, identify_properties
from ._persons import AsyncPersons
from ._query import AsyncQuery
from ._queue import Item, Put
from ._reporting import ClientMetrics
from ._stats import AsyncStats
from ._transport import AsyncHTTPTransport, AsyncTransport, HTTPTransport, Transport

__all__ = ["AsyncClient"]

log = logging.getLogger("evana.client")

Model = TypeVar("Model", bound=BaseModel)


def _sleep_blocking(seconds: float) -> bool:
    time.sleep(seconds)
    return False


class AsyncClient:
    """``Client`` for asyncio: the same options; ``track``, ``flush``, ``close`` are awaited.

    >>> import asyncio, evana
    >>> async def main() -> int:
    ...     async with evana.AsyncClient("http://127.0.0.1:8000", "key", disabled=True) as client:
    ...         event_id = await client.track("signup", user_id="u_42")
    ...     return event_id.version
    >>> asyncio.run(main())
    7
    """

    def __init__(
        self, url: str | None = None, api_key: str | None = None, **options: Unpack[ClientKwargs]
    ) -> None:
        self._core = Core(ClientOptions.build(url, api_key, **options))
        self._transport = self._make_transport()
        self._bind(None)
        self.stats = AsyncStats(self._fetch)
        self.query = AsyncQuery(self._post)
        self.persons = AsyncPersons(self._fetch)
        _lifecycle.register(self)

    def _make_transport(self) -> AsyncTransport:
        return self._core.transport(AsyncTransport, AsyncHTTPTransport, "handle_async_request")  # type: ignore[type-abstract]

    def _bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        # asyncio primitives belong to one loop; a new loop gets new ones.
        self._loop = loop
        self._wake = asyncio.Event()
        self._idle = asyncio.Condition()
        self._abandon = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: list[Item] | None = None  # the batch being sent
        self._flushing = 0
        self._stopping = False

    def _bound(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None:
            # A new event loop (asyncio.run() again): the old one took its task and its
            # connections with it. A batch its task never finished goes back in the queue.
            self._requeue_current()
            if self._core.options.transport is None:
                self._transport = self._make_transport()
        stopping = self._stopping
        self._bind(loop)
        self._stopping = stopping

    def _requeue_current(self) -> None:
        if self._current is not None:
            self._core.queue.requeue(self._current)
            self._current = None

    async def _fetch(self, path: str, params: Mapping[str, str], model: type[Model]) -> Model:
        self._bound()
        return await self._core.aget(self._transport, path, params, model, self._sleep)

    async def _post(self, path: str, body: Mapping[str, Any], model: type[Model]) -> Model:
        self._bound()
        return await self._core.apost(self._transport, path, body, model, self._sleep)

    async def _sleep(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._abandon.wait()
        except TimeoutError:
            return False
        return True

    @property
    def metrics(self) -> ClientMetrics:
        """Counters of what this client did (tracked, delivered, dropped, ...)."""
        return self._core.metrics()

    async def track(
        self,
        event: str,
        user_id: str | int,
        properties: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue one event and return its id; see ``Client.track``.

        Only ``on_full="block"`` (waiting for room) or ``sync_mode=True`` ever suspends it.
        """
        core = self._core
        try:
            event_id, item = core.admit(event, user_id, properties, timestamp, event_id)
            if item is not None:
                await self._enqueue(item)
        except Exception as exc:
            return core.track_failed(exc, event_id)
        return event_id

    async def identify(
        self,
        user_id: str | int,
        anonymous_id: str | int | None = None,
        set: Mapping[str, Any] | None = None,
        set_once: Mapping[str, Any] | None = None,
        *,
        timestamp: dt.datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue an ``$identify`` event; see ``Client.identify``.

        >>> import asyncio, evana
        >>> async def main() -> int:
        ...     async with evana.AsyncClient("http://127.0.0.1:8000", "k", disabled=True) as c:
        ...         event_id = await c.identify("u_42", anonymous_id="anon_1", set={"plan": "pro"})
        ...     return event_id.version
        >>> asyncio.run(main())
        7
        """
        properties = identify_properties(anonymous_id, set, set_once)
        return await self.track(IDENTIFY, user_id, properties, timestamp, event_id)

    async def alias(
        self,
        previous_id: str | int,
        user_id: str | int,
        *,
        timestamp: dt.datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue a ``$create_alias`` event linking ``previous_id`` to ``user_id``; see
        ``Client.alias``.

        >>> import asyncio, evana
        >>> async def main() -> int:
        ...     async with evana.AsyncClient("http://127.0.0.1:8000", "k", disabled=True) as c:
        ...         event_id = await c.alias("anon_1", "u_42")
        ...     return event_id.version
        >>> asyncio.run(main())
        7
        """
        properties = alias_properties(previous_id)
        return await self.track(ALIAS, user_id, properties, timestamp, event_id)

    async def _enqueue(self, item: Item) -> None:
        core = self._core
        sync_mode = core.options.sync_mode
        self._bound()
        if not sync_mode and (self._task is None or self._task.done()):
            self._start()
        put = core.offer(item)
        while put is Put.FULL:  # on_full="block": wait until the sender takes a batch
            if self._task is not None and asyncio.current_task() is self._task:
                core.refuse(item)  # from a callback on the sender: only it can make room
                return
            self._wake.set()
            async with self._idle:
                await self._idle.wait_for(lambda: core.queue.has_room() or core.closed)
            if core.closed:
                core.report.drop([item[1]], "closed")
                return
            put = core.offer(item)
        if put is Put.READY:
            self._wake.set()
        if sync_mode:
            while batch := core.queue.take():
                await core.adeliver(self._transport, batch, self._sleep)

    def _start(self) -> None:
        if self._stopping or self._loop is None:
            return
        self._task = self._loop.create_task(self._run(), name="evana-sender")
        _lifecycle.sender_started()

    async def _run(self) -> None:
        core, interval = self._core, self._core.options.flush_interval
        while True:
            try:
                self._wake.clear()
                idle = core.idle(flushing=self._flushing > 0, stopping=self._stopping)
                if idle is None:
                    return
                if idle:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(interval):
                            await self._wake.wait()
                batch = core.queue.take()
                if not batch:
                    continue
                self._current = batch
                await self._notify()  # room for a blocked track()
                await core.adeliver(self._transport, batch, self._sleep)
                self._current = None  # no await since adeliver settled it
                await self._notify()  # flush() waits for this
            except asyncio.CancelledError:
                self._requeue_current()  # the exit hook or the next loop will send it
                raise
            except Exception:  # a bug here must not end the sender and strand the queue
                log.exception("evana: the sender failed; it carries on")
                await asyncio.sleep(interval)

    async def _notify(self) -> None:
        async with self._idle:
            self._idle.notify_all()

    async def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True when all of it was delivered within ``timeout``."""
        core = self._core
        if self._task is not None and asyncio.current_task() is self._task:
            return False  # called from a callback on the sender: waiting would wait for itself
        self._bound()
        if core.queue.pending == 0:
            return True
        if self._task is None or self._task.done():
            self._start()
        before = core.report.trouble()
        self._flushing += 1
        self._wake.set()
        try:
            async with asyncio.timeout(timeout), self._idle:
                await self._idle.wait_for(lambda: core.queue.pending == 0)
            drained = True
        except TimeoutError:
            drained = False
        finally:
            self._flushing -= 1
        return drained and core.report.trouble() == before

    async def send_batch(self, events: Sequence[Event | Mapping[str, Any]]) -> IngestResult:
        """Send ``events`` now as one batch, bypassing the queue; see ``Client.send_batch``."""
        self._bound()
        items = [encode_prepared(event) for event in events]
        return await self._core.asend(self._transport, items, self._sleep, stamped=False)

    async def close(self, timeout: float | None = None) -> bool:
        """Send what is queued (within ``timeout``, default ``shutdown_timeout``), then stop."""
        core = self._core
        if core.closed:
            return core.queue.pending == 0
        self._bound()  # perhaps on another event loop than the last track()
        _lifecycle.unregister(self)
        deadline = core.begin_close(timeout)
        delivered = await self.flush(max(0.0, deadline - time.monotonic()))
        left = core.drop_queued()
        self._stopping = True
        self._abandon.set()
        self._wake.set()
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            finished, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
            if not finished:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                left = core.drop_queued() or left  # the batch it put back
        if core.options.transport is None:
            await self._transport.aclose()
        await self._notify()  # any track() blocked on a full queue gives up
        return delivered and not left

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- process lifecycle (see _lifecycle) ---------------------------------------------------

    def _shutdown_timeout(self) -> float:
        return self._core.options.shutdown_timeout

    def _exit_begin(self, deadline: float) -> None:
        self._core.deadline = deadline
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._wake.set)

    def _exit_finish(self, deadline: float) -> None:
        if self._core.closed:
            return
        loop = self._loop
        remaining = max(0.0, deadline - time.monotonic())
        if loop is not None and not loop.is_closed():
            if loop.is_running():  # on another thread, still alive
                future = asyncio.run_coroutine_threadsafe(self.close(remaining), loop)
                with contextlib.suppress(TimeoutError):
                    future.result(remaining + 0.1)
            else:
                loop.run_until_complete(self.close(remaining))
            return
        self._drain_without_loop(deadline)

    def _drain_without_loop(self, deadline: float) -> None:
        core = self._core
        _lifecycle.unregister(self)
        core.begin_close(max(0.0, deadline - time.monotonic()))
        self._requeue_current()
        given = core.options.transport
        transport: Transport | None = given if isinstance(given, Transport) else None
        if given is None:
            timeout = min(core.options.timeout, max(0.1, deadline - time.monotonic()))
            transport = HTTPTransport(core.options.url, timeout=timeout)
        if transport is not None:
            while time.monotonic() < deadline and (batch := core.queue.take()):
                core.deliver(transport, batch, _sleep_blocking)
            if given is None:
                transport.close()
        core.drop_queued()

    def _after_fork_in_child(self) -> None:
        self._core.after_fork()
        self._bind(None)
        if self._core.options.transport is None:
            self._transport = self._make_transport()
