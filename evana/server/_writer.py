"""The batch handlers: write queued batches to storage, log one line per write, count them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from ._metrics import Metrics
from ._queue import Batch
from ._storage import EventStore, WriteResult

__all__ = ["BatchWriter", "MeteredWriter"]

log = logging.getLogger("evana.writer")


class BatchWriter:
    """Writes batches with the storage layer's idempotent bulk path, off the event loop.

    Calls from one writer are serialized: one transaction at a time keeps SQLite happy and
    lets a caller group batches instead of racing them.
    """

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._lock = asyncio.Lock()

    async def __call__(self, batches: Sequence[Batch]) -> None:
        await self.write(batches)

    async def write(self, batches: Sequence[Batch]) -> WriteResult:
        """Store every event of ``batches`` (once each) and return what happened."""
        rows = [event for batch in batches for event in batch.events]
        start = time.perf_counter()
        async with self._lock:
            result = await asyncio.to_thread(self.store.write, rows)
        log.info(
            "msg=batch_written batches=%d events=%d inserted=%d duplicates=%d ms=%.1f",
            len(batches),
            result.events,
            result.inserted,
            result.duplicates,
            (time.perf_counter() - start) * 1000,
        )
        return result


class MeteredWriter:
    """A batch handler over several :class:`BatchWriter` s that counts what they write.

    Each writer runs one transaction at a time, so ``len(writers)`` writes can run at once
    (``evana worker --concurrency``); a call waits for an idle writer.
    """

    def __init__(self, writers: Sequence[BatchWriter], metrics: Metrics) -> None:
        self._idle: asyncio.Queue[BatchWriter] = asyncio.Queue()
        for writer in writers:
            self._idle.put_nowait(writer)
        self.metrics = metrics

    async def __call__(self, batches: Sequence[Batch]) -> None:
        writer = await self._idle.get()
        start = time.perf_counter()
        try:
            result = await writer.write(batches)
        finally:
            self._idle.put_nowait(writer)
        self.metrics.write_seconds.observe(time.perf_counter() - start)
        self.metrics.events_inserted.inc(result.inserted)
        self.metrics.events_duplicates.inc(result.duplicates)
