"""The embedded queue: batches are written by the API process itself before ``publish`` returns."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from evana.errors import PermanentStorageError, QueueUnavailableError

from ._base import Batch, BatchHandler

__all__ = ["InProcessQueue"]

_Item = tuple[Batch, asyncio.Future[None]]


class InProcessQueue:
    """An :class:`EventQueue` whose consumer runs in the publishing process.

    ``publish`` waits until the consumer's handler has committed the batch, so a ``202`` in
    embedded mode means the batch is in the database. Batches that arrive while a write is
    under way are written together in the next transaction (group commit): one fsync for many
    requests, which is what keeps SQLite with ``synchronous=FULL`` fast under load.
    """

    def __init__(self, *, max_group_events: int = 20_000) -> None:
        self._items: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._max_group_events = max_group_events
        self._closed = False
        self._consumer: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        """Nothing to connect to."""

    def start_consuming(self, handler: BatchHandler) -> None:
        """Run :meth:`consume` as a background task of the running loop."""
        self._consumer = asyncio.get_running_loop().create_task(self.consume(handler))

    async def publish(self, batch: Batch) -> None:
        """Hand ``batch`` to the consumer and wait until it is written."""
        await self.check()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.put_nowait((batch, done))
        await done

    async def consume(self, handler: BatchHandler) -> None:
        """Write waiting batches in groups until :meth:`close`."""
        if self._consumer is None:  # called directly rather than through start_consuming
            self._consumer = asyncio.current_task()
        while (item := await self._items.get()) is not None:
            group = [item]
            events = len(item[0].events)
            stop = False
            while events < self._max_group_events and not self._items.empty():
                following = self._items.get_nowait()
                if following is None:
                    stop = True
                    break
                group.append(following)
                events += len(following[0].events)
            await self._write(handler, group)
            if stop:
                return

    async def _write(self, handler: BatchHandler, group: Sequence[_Item]) -> None:
        try:
            await handler([batch for batch, _ in group])
        except PermanentStorageError as error:
            if len(group) == 1:
                _settle(group, error)
                return
            # One batch's bad data must not fail its neighbours: write them one by one.
            for item in group:
                await self._write(handler, [item])
        except Exception as error:  # every waiting request learns of the failure
            _settle(group, error)
        else:
            _settle(group, None)

    async def check(self) -> None:
        """Raise unless the writer task is alive and taking batches."""
        if self._closed or self._consumer is None or self._consumer.done():
            raise QueueUnavailableError("the in-process writer is not running")

    async def close(self) -> None:
        """Stop taking batches; return once those already handed over are written."""
        if self._closed:
            return
        self._closed = True
        if self._consumer is not None and not self._consumer.done():
            self._items.put_nowait(None)
            await self._consumer


def _settle(group: Sequence[_Item], error: Exception | None) -> None:
    for _, done in group:
        if done.done():  # the publisher went away (client disconnected)
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
