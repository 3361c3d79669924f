"""The client's bounded in-memory queue of encoded events, with local deduplication.

It only keeps state; it never waits. ``Client`` (a thread) and ``AsyncClient`` (a task) each add
their own way of waking the sender and of blocking a full ``track()``, around the same queue.
A queue item is ``(key, data)``: the event id as an int (cheap to hash) and its JSON bytes.
"""

from __future__ import annotations

import enum
import threading
from collections import deque

__all__ = ["DUPLICATE", "FULL", "QUEUED", "READY", "REFUSED", "EventQueue", "Item", "Put"]

Item = tuple[int, bytes]


class Put(enum.Enum):
    """What :meth:`EventQueue.put` did with an event."""

    QUEUED = "queued"
    #: Queued, and there is now a full batch (by count or by bytes): wake the sender.
    READY = "ready"
    DUPLICATE = "duplicate"
    FULL = "full"
    #: Not queued: the full-queue policy dropped it (never returned by the queue itself).
    REFUSED = "refused"


# Module-level aliases: an Enum attribute lookup costs more than the rest of a put().
QUEUED, READY, DUPLICATE, FULL, REFUSED = (
    Put.QUEUED,
    Put.READY,
    Put.DUPLICATE,
    Put.FULL,
    Put.REFUSED,
)


class EventQueue:
    """A bounded FIFO of encoded events that refuses ids it has recently seen.

    ``pending`` counts events queued plus events taken by the sender and not yet ``done``:
    ``flush()`` waits for it to reach zero. The last ``dedup_window`` ids are remembered in a
    set, with a ring giving their order so the oldest is forgotten first: memory is bounded
    (about 100 bytes per id), and a duplicate of an older id is left to the server, which
    keeps one copy per id anyway.

    >>> q = EventQueue(max_size=2, flush_at=2, max_batch_bytes=1000, dedup_window=10)
    >>> q.put(1, b"{}"), q.put(1, b"{}"), q.put(2, b"{}"), q.put(3, b"{}")
    (<Put.QUEUED: 'queued'>, <Put.DUPLICATE: 'duplicate'>, <Put.READY: 'ready'>, <Put.FULL: 'full'>)
    >>> len(q.take()), q.pending
    (2, 2)
    """

    def __init__(
        self, *, max_size: int, flush_at: int, max_batch_bytes: int, dedup_window: int
    ) -> None:
        self.max_size = max_size
        self.flush_at = flush_at
        self.max_batch_bytes = max_batch_bytes
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._in_flight = 0
        #: Events ever queued here (``ClientMetrics.tracked``).
        self.accepted = 0
        self._window = dedup_window
        self._seen: set[int] = set()
        self._order: deque[int] = deque()
        # One short lock per put: exact bound, exact dedup, exact counts, across app threads.
        self._lock = threading.Lock()

    def put(self, key: int, data: bytes) -> Put:
        """Queue one event unless its id was recently seen or the queue is full."""
        # Runs on every track(): the dedup ring is handled inline rather than by method calls.
        with self._lock:
            if key in self._seen:
                return DUPLICATE
            items = self._items
            if len(items) >= self.max_size:
                return FULL
            if self._window:
                self._seen.add(key)
                order = self._order
                order.append(key)
                if len(order) > self._window:
                    self._seen.discard(order.popleft())
            items.append((key, data))
            self.accepted += 1
            self._bytes += len(data) + 1  # the comma between events
            if len(items) >= self.flush_at or self._bytes >= self.max_batch_bytes:
                return READY
            return QUEUED

    def remembered(self) -> int:
        """How many ids the dedup window holds now."""
        return len(self._seen)

    def ready(self) -> bool:
        """Whether a full batch is waiting."""
        return len(self._items) >= self.flush_at or self._bytes >= self.max_batch_bytes

    def has_room(self) -> bool:
        """Whether a put would not be refused as FULL."""
        return len(self._items) < self.max_size

    def take(self) -> list[Item]:
        """Take the next batch: up to ``flush_at`` events and ``max_batch_bytes`` of body.

        An event bigger than the byte budget on its own still goes, alone, rather than stay
        stuck at the head of the queue (the schema bounds an event to about 33 KiB).
        """
        batch: list[Item] = []
        with self._lock:
            items, budget = self._items, self.max_batch_bytes
            size = 0
            while items and len(batch) < self.flush_at:
                cost = len(items[0][1]) + 1
                if batch and size + cost > budget:
                    break
                size += cost
                batch.append(items.popleft())
            self._bytes -= size
            self._in_flight += len(batch)
        return batch

    def done(self, batch: list[Item], *, forget: bool = False) -> None:
        """The sender finished with ``batch`` (delivered, rejected or given up)."""
        with self._lock:
            self._in_flight -= len(batch)
            if forget:
                self._seen.difference_update(key for key, _ in batch)

    def requeue(self, batch: list[Item]) -> None:
        """Put a taken batch back at the head, in order (its sender was cancelled mid-way)."""
        with self._lock:
            self._in_flight -= len(batch)
            self._items.extendleft(reversed(batch))
            self._bytes += sum(len(data) + 1 for _, data in batch)

    def clear(self) -> list[Item]:
        """Remove and return everything queued (not what the sender holds)."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._bytes = 0
            return items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pending(self) -> int:
        """Events queued or being sent."""
        with self._lock:
            return len(self._items) + self._in_flight
