"""The queue seam between the API and storage: one Protocol; in-process and NATS implementations."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from evana.server._batch import NormalizedEvent

__all__ = ["Batch", "BatchHandler", "EventQueue", "batch_id"]


def batch_id(events: Sequence[NormalizedEvent]) -> str:
    """A batch's identity from its events' ids: the same events re-sent give the same id.

    Used as the ``Nats-Msg-Id``, so a retried publish of the same batch is a no-op.
    """
    digest = hashlib.blake2b(digest_size=16)
    for event in events:
        digest.update(event.event_id.bytes)
    return digest.hexdigest()


@dataclass(slots=True)
class Batch:
    """Validated events on their way to storage, as one unit of publishing."""

    id: str
    events: list[NormalizedEvent]

    @classmethod
    def of(cls, events: list[NormalizedEvent]) -> Batch:
        """A batch whose id is derived from its events."""
        return cls(batch_id(events), events)


#: Writes batches to storage; raising means none of them may be acknowledged.
BatchHandler = Callable[[Sequence[Batch]], Awaitable[None]]


class EventQueue(Protocol):
    """Carries accepted batches from the API to the writer.

    ``publish`` returns only once the batch is durable — written to the database (in-process)
    or acknowledged by JetStream — and raises QueueUnavailableError (or a StorageError) when it
    cannot be made durable, in which case nothing of it was accepted.
    """

    async def start(self) -> None:
        """Connect, and create or check what the queue needs."""

    async def publish(self, batch: Batch) -> None:
        """Make ``batch`` durable, or raise."""

    async def consume(self, handler: BatchHandler) -> None:
        """Feed batches to ``handler`` until :meth:`close`; the worker's main loop."""

    async def check(self) -> None:
        """Raise QueueUnavailableError unless the queue can take batches now."""

    async def close(self) -> None:
        """Stop consuming, finish what is in flight, disconnect."""
