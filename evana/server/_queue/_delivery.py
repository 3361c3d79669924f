"""What a worker does with the messages of one fetch: write them together, then settle each.

- **Group commit.** The batches of the messages gathered for one write (see
  ``NatsQueue._gather``: up to ``EVANA_WORKER_BATCH_EVENTS`` events) go to the handler in one
  call (one transaction), far cheaper than one transaction per message; a long write keeps its
  messages with ``in_progress()`` so JetStream does not hand them to another worker meanwhile.
- **Success** acks every message.
- **Transient failure** (database unreachable, timeout, anything not known to be permanent) of
  a group is tried again message by message, so that one message that cannot be written does
  not hold back the others: each message that fails again is nak'd with the delay of its
  attempt, ``EVANA_RETRY_BASE_SECONDS``·3^(n-1). After a few failures in a row the database
  itself is taken to be down and the rest are nak'd without trying. The attempt is JetStream's
  delivery count, so a worker crash between attempts loses nothing and still counts. When the
  retries are used up, the batch is dead-lettered, then acked.
- **Permanent failure** (the database refuses some rows) bisects the group until each refused
  event stands alone: everything else is written, only the refused events are dead-lettered.
- **Undecodable** messages are dead-lettered as they are.

Every dead letter is published (and acknowledged by JetStream) before its source is acked: a
crash in between redelivers the source, and event ids keep a second write harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from evana._settings import Settings
from evana.errors import PermanentStorageError
from evana.server._batch import NormalizedEvent
from evana.server._logging import quote
from evana.server._metrics import Metrics

from ._base import Batch, BatchHandler, batch_id
from ._codec import decode, encode
from ._deadletter import DeadLetter, RetryLedger
from ._jetstream import HEADER_ROOM, Names

__all__ = ["Delivery", "Item"]

log = logging.getLogger("evana.worker")

_Entry = tuple[int, NormalizedEvent]  # (index of the message in the group, one of its events)

# Transient failures in a row, when a failed group is written message by message, after which
# the database is taken to be down (the rest are retried later without trying each).
_DOWN_AFTER = 3


@dataclass(slots=True)
class Item:
    """A fetched message and the batch it carries."""

    msg: Msg
    batch: Batch
    seq: int
    attempt: int


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Delivery:
    """Writes and settles fetched messages; one per consuming queue, shared by its loops."""

    def __init__(
        self,
        js: JetStreamContext,
        names: Names,
        handler: BatchHandler,
        ledger: RetryLedger,
        settings: Settings,
        metrics: Metrics,
        max_payload: int,
    ) -> None:
        self._js = js
        self._names = names
        self._handler = handler
        self._ledger = ledger
        self._delays = settings.retry_delays()
        self._beat = settings.worker_ack_wait_seconds / 3
        self._metrics = metrics
        self._max_bytes = max_payload - HEADER_ROOM

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """Write the batches of ``msgs`` and settle every one of them."""
        await self.write(await self.take(msgs))

    async def take(self, msgs: Sequence[Msg]) -> list[Item]:
        """Decode ``msgs`` for :meth:`write`; a message that is not a batch is dead-lettered."""
        items: list[Item] = []
        for msg in msgs:
            meta = msg.metadata
            try:
                batch = decode(msg.data)
            except ValueError as exc:
                await self._dead_letter_raw(msg, meta.sequence.stream, meta.num_delivered, exc)
                continue
            items.append(Item(msg, batch, meta.sequence.stream, meta.num_delivered))
        return items

    async def write(self, items: Sequence[Item]) -> None:
        """Write the batches of ``items`` together and settle every one of them."""
        if not items:
            return
        async with self._keep_alive(items):
            try:
                await self._handler([item.batch for item in items])
            except PermanentStorageError as error:
                await self._refused(items, error)
                return
            except Exception as exc:  # not known to be permanent: worth a retry
                if len(items) == 1:
                    await self._retry(items, exc)
                else:
                    await self._one_by_one(items, exc)
                return
        for item in items:
            await self._ack(item)

    async def _refused(self, items: Sequence[Item], error: PermanentStorageError) -> None:
        entries = [(i, ev) for i, item in enumerate(items) for ev in item.batch.events]
        try:
            refused = await self._isolate(items, entries, error)
        except Exception as exc:  # a transient failure while bisecting: retry it all
            await self._retry(items, exc)
            return
        await self._settle_refused(items, refused)

    async def _one_by_one(self, items: Sequence[Item], error: BaseException) -> None:
        """After a group's transient failure: write each message alone, settle each alone."""
        log.warning(
            "msg=group_write_failed messages=%d error=%s retrying=one_by_one",
            len(items),
            quote(_describe(error)),
        )
        failures = 0
        for index, item in enumerate(items):
            try:
                await self._handler([item.batch])
            except PermanentStorageError as exc:
                failures = 0
                await self._refused([item], exc)
                continue
            except Exception as exc:
                failures += 1
                if failures >= _DOWN_AFTER:  # the database, not a message: stop trying
                    await self._retry(items[index:], exc)
                    return
                await self._retry([item], exc)
                continue
            failures = 0
            await self._ack(item)

    @contextlib.asynccontextmanager
    async def _keep_alive(self, items: Sequence[Item]) -> AsyncIterator[None]:
        async def beat() -> None:
            while True:
                await asyncio.sleep(self._beat)
                for item in items:
                    with contextlib.suppress(nats.errors.Error):
                        await item.msg.in_progress()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _isolate(
        self,
        items: Sequence[Item],
        entries: Sequence[_Entry],
        error: PermanentStorageError | None = None,
    ) -> list[tuple[_Entry, PermanentStorageError]]:
        """Write ``entries`` in halves, recursively; return each refused event with its error.

        ``error`` says the whole of ``entries`` already failed with it (no need to try again).
        """
        if error is None:
            groups: dict[int, list[NormalizedEvent]] = {}
            for index, event in entries:
                groups.setdefault(index, []).append(event)
            try:
                await self._handler([Batch(items[i].batch.id, evs) for i, evs in groups.items()])
                return []
            except PermanentStorageError as exc:
                error = exc
        if len(entries) == 1:
            return [(entries[0], error)]
        middle = len(entries) // 2
        return await self._isolate(items, entries[:middle]) + await self._isolate(
            items, entries[middle:]
        )

    async def _settle_refused(
        self, items: Sequence[Item], refused: Sequence[tuple[_Entry, PermanentStorageError]]
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        by_item: dict[tuple[int, str], list[NormalizedEvent]] = {}
        for (index, event), error in refused:
            by_item.setdefault((index, _describe(error)), []).append(event)
        failed: set[int] = set()
        for (index, error_text), events in by_item.items():
            item = items[index]
            first = now if item.attempt == 1 else await self._ledger.first_failure(item.seq, now)
            letter = DeadLetter(
                error_text,
                "permanent",
                item.attempt,
                first,
                now,
                len(events),
                item.batch.id,
                item.seq,
            )
            if not await self._dead_letter(Batch(item.batch.id, events), letter):
                failed.add(index)
        for index, item in enumerate(items):
            if index in failed:  # the DLQ did not take it: try the whole message again later
                await self._nak(item, self._delays[0] if self._delays else 0)
            else:
                await self._ack(item)

    async def _retry(self, items: Sequence[Item], error: BaseException) -> None:
        now = dt.datetime.now(dt.UTC)
        text = _describe(error)
        for item in items:
            first = await self._ledger.first_failure(item.seq, now)
            if item.attempt <= len(self._delays):
                delay = self._delays[item.attempt - 1]
                log.warning(
                    "msg=batch_retry seq=%d attempt=%d retry_in_s=%g events=%d error=%s",
                    item.seq,
                    item.attempt,
                    delay,
                    len(item.batch.events),
                    quote(text),
                )
                self._metrics.retries.inc()
                await self._nak(item, delay)
                continue
            letter = DeadLetter(
                text,
                "transient",
                item.attempt,
                first,
                now,
                len(item.batch.events),
                item.batch.id,
                item.seq,
            )
            if await self._dead_letter(item.batch, letter):
                await self._ack(item)
            else:  # the DLQ did not take it either: keep the message, try again later
                await self._nak(item, self._delays[-1] if self._delays else 0)

    async def _dead_letter(self, batch: Batch, letter: DeadLetter) -> bool:
        """Publish ``batch`` to the DLQ with ``letter``'s headers; False when NATS refused it."""
        key = f"dlq-{letter.source_seq}-{batch_id(batch.events)[:16]}"
        parts = encode(batch, self._max_bytes)
        for number, part in enumerate(parts):
            msg_id = key if len(parts) == 1 else f"{key}-{number}"
            if not await self._publish_dead(part, letter, msg_id):
                return False
        return True

    async def _dead_letter_raw(self, msg: Msg, seq: int, attempt: int, error: Exception) -> None:
        now = dt.datetime.now(dt.UTC)
        letter = DeadLetter(str(error), "undecodable", attempt, now, now, 0, "", seq)
        if await self._publish_dead(msg.data, letter, f"dlq-{seq}-raw"):
            with contextlib.suppress(nats.errors.Error):
                await msg.ack()

    async def _publish_dead(self, payload: bytes, letter: DeadLetter, msg_id: str) -> bool:
        headers = {**letter.headers(), "Nats-Msg-Id": msg_id}
        try:
            await self._js.publish(
                self._names.dlq_subject, payload, headers=headers, stream=self._names.dlq_stream
            )
        except (nats.errors.Error, TimeoutError) as exc:
            log.error("msg=dead_letter_failed seq=%d error=%s", letter.source_seq, quote(exc))
            return False
        log.error(
            "msg=dead_lettered seq=%d kind=%s attempts=%d events=%d error=%s",
            letter.source_seq,
            letter.kind,
            letter.attempts,
            letter.events,
            quote(letter.error),
        )
        self._metrics.messages_dead_lettered.inc()
        self._metrics.events_dead_lettered.inc(letter.events)
        await self._ledger.forget(letter.source_seq)
        return True

    async def _ack(self, item: Item) -> None:
        try:
            await item.msg.ack()
        except nats.errors.Error as exc:  # redelivered after ack_wait; event ids make it harmless
            log.warning("msg=ack_failed seq=%d error=%s", item.seq, quote(exc))
            return
        if item.attempt > 1:
            await self._ledger.forget(item.seq)

    async def _nak(self, item: Item, delay: float) -> None:
        try:
            await item.msg.nak(delay=delay)
        except nats.errors.Error as exc:  # redelivered after ack_wait all the same
            log.warning("msg=nak_failed seq=%d error=%s", item.seq, quote(exc))
