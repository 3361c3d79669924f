"""``evana ingest``'s engine: judged lines into batches, several batches in flight, rejects mapped.

One thread reads lines (``_jsonlines``), judges them (``_judge``) and fills a batch; full
batches go to a small thread pool that sends them with the SDK's blocking ``send_batch``
(retries, gzip). At most ``concurrency`` batches are in flight: before sending another, the
reader waits for the oldest one to settle, so memory is bounded by ``concurrency + 1`` batches
whatever the input size, and batches settle in order, which is what maps a server reject (an
index in a batch) back to its line.

Lines whose event id repeats one of the last :data:`DEDUP_WINDOW` ids of the run are counted as
duplicates and not sent: the server would store the first copy only anyway.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

from evana.schema import IngestResult

from ._judge import LineError, Payload, horizon, judge

__all__ = ["DEDUP_WINDOW", "MAX_BATCH_BYTES", "Origin", "Pipeline", "Send", "Tally"]

#: How many recent event ids a run remembers to spot duplicates (~10 MB of memory at most).
DEDUP_WINDOW = 100_000
#: Bytes of JSON per batch at most, well under the server's 10 MiB default body limit.
MAX_BATCH_BYTES = 4 * 1024 * 1024

#: Sends one batch, blocking; returns the server's answer or raises the SDK's error.
Send = Callable[[list[Payload]], IngestResult]


class Origin(NamedTuple):
    """Where an event came from: input number, line number, the line itself."""

    source: int
    line: int
    raw: bytes


@dataclass
class Tally:
    """What a run did so far. ``read`` = ``accepted`` + ``rejected`` + ``duplicates`` at the end.

    ``accepted`` events were taken by the server (or, in a dry run, found valid); an event the
    server already stored is accepted again and changes nothing.
    """

    read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    sent: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started


class _RecentIds:
    """The last ``size`` ids seen, for exact duplicate detection in bounded memory."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: set[str] = set()
        self._order: collections.deque[str] = collections.deque()

    def seen(self, key: str) -> bool:
        if key in self._seen:
            return True
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return False


class Pipeline:
    """Feed it lines; it judges, batches, sends (or, with ``send=None``, only validates).

    ``on_reject(origin, error)`` hears of every rejected line (locally or by the server),
    ``on_batch()`` of every batch sent, for progress. Use as a context manager: leaving the
    block waits for every batch in flight (or, after an error, abandons those not yet sent).

    >>> rejects = []
    >>> with Pipeline(None, on_reject=lambda o, e: rejects.append((o.line, e))) as p:
    ...     p.feed(0, [(1, b'{"event": "a", "user_id": "u"}'), (2, b"{oops")])
    >>> p.tally.accepted, rejects
    (1, [(2, 'not valid JSON: key must be a string at line 1 column 2')])
    """

    def __init__(
        self,
        send: Send | None,
        *,
        on_reject: Callable[[Origin, str], None],
        on_batch: Callable[[], None] | None = None,
        batch_size: int = 2000,
        concurrency: int = 8,
        dedup_window: int = DEDUP_WINDOW,
    ) -> None:
        self.tally = Tally()
        self._send = send
        self._on_reject = on_reject
        self._on_batch = on_batch
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._recent = _RecentIds(dedup_window)
        self._payloads: list[Payload] = []
        self._origins: list[Origin] = []
        self._bytes = 0
        self._latest = horizon()
        self._pending: collections.deque[tuple[Future[IngestResult], list[Origin]]] = (
            collections.deque()
        )
        self._pool = ThreadPoolExecutor(concurrency, "evana-ingest") if send else None

    def feed(self, source: int, lines: Iterable[tuple[int, bytes]]) -> None:
        """Judge and queue every line of input number ``source``; blank lines are skipped."""
        tally, recent, limit = self.tally, self._recent, self._batch_size
        payloads, origins = self._payloads, self._origins
        for number, line in lines:
            if not line.strip():
                continue
            tally.read += 1
            try:
                payload, event_id = judge(line, self._latest)
            except LineError as exc:
                self._reject(Origin(source, number, line), str(exc))
                continue
            if recent.seen(event_id):
                tally.duplicates += 1
                continue
            payloads.append(payload)
            origins.append(Origin(source, number, line))
            self._bytes += len(line)
            if len(payloads) >= limit or self._bytes >= MAX_BATCH_BYTES:
                self._flush()
                payloads, origins = self._payloads, self._origins

    def _reject(self, origin: Origin, error: str) -> None:
        self.tally.rejected += 1
        self._on_reject(origin, error)

    def _flush(self) -> None:
        payloads, origins = self._payloads, self._origins
        if not payloads:
            return
        self._payloads, self._origins, self._bytes = [], [], 0
        self.tally.sent += len(payloads)
        if self._pool is None or self._send is None:
            self.tally.accepted += len(payloads)  # a dry run: valid is as far as it goes
        else:
            while len(self._pending) >= self._concurrency:
                self._settle()
            self._pending.append((self._pool.submit(self._send, payloads), origins))
        self._latest = horizon()
        if self._on_batch is not None:
            self._on_batch()

    def _settle(self) -> None:
        future, origins = self._pending.popleft()
        result = future.result()  # the SDK's final error, after its retries, propagates
        self.tally.accepted += result.accepted
        for item in result.rejected:
            if 0 <= item.index < len(origins):
                self._reject(origins[item.index], "; ".join(item.errors))

    def finish(self) -> Tally:
        """Send the last batch and wait for every batch in flight; the final tally."""
        self._flush()
        while self._pending:
            self._settle()
        return self.tally

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        failed = exc_type is not None
        try:
            if not failed:
                self.finish()
        except BaseException:
            failed = True
            raise
        finally:
            if self._pool is not None:
                # After an error (or Ctrl-C) batches not yet started are dropped, not sent.
                self._pool.shutdown(wait=not failed, cancel_futures=failed)
