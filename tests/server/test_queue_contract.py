"""One contract, two queues: the in-process queue (embedded) and the NATS JetStream queue.

Whatever the implementation, a published batch is written exactly once, a failed write loses
nothing, one batch's bad data spares its neighbours, ``close`` finishes the work in hand, and
``check`` fails once the queue cannot take batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from evana.errors import PermanentStorageError, QueueUnavailableError, TransientStorageError
from evana.server import Settings
from evana.server._batch import NormalizedEvent
from evana.server._queue import Batch, EventQueue, InProcessQueue, NatsQueue
from tests.server._pipeline import eventually, make_events

pytestmark = pytest.mark.anyio

QueueMaker = Callable[[], Awaitable[EventQueue]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """A batch handler that remembers what it wrote; ``fail`` decides when it raises."""

    def __init__(
        self,
        fail: Callable[[Sequence[Batch]], Exception | None] = lambda _: None,
        delay: float = 0,
    ) -> None:
        self.fail = fail
        self.delay = delay
        self.calls = 0
        self.started = asyncio.Event()
        self.written: list[NormalizedEvent] = []

    async def __call__(self, batches: Sequence[Batch]) -> None:
        self.calls += 1
        self.started.set()
        await asyncio.sleep(self.delay)
        error = self.fail(batches)
        if error is not None:
            raise error
        self.written.extend(event for batch in batches for event in batch.events)


@pytest.fixture(params=["inprocess", pytest.param("nats", marks=pytest.mark.integration)])
async def make_queue(request: pytest.FixtureRequest) -> AsyncIterator[QueueMaker]:
    """Makes started queues of one kind; for NATS, all on one (per-test) subject prefix."""
    made: list[EventQueue] = []
    settings: Settings | None = None
    if request.param == "nats":
        settings = Settings(
            database_url="sqlite://",
            nats_url=request.getfixturevalue("nats_url"),
            nats_subject_prefix=request.getfixturevalue("nats_prefix"),
            retry_base_seconds=0.05,
            retry_attempts=2,
            worker_ack_wait_seconds=1,
        )

    async def make() -> EventQueue:
        queue: EventQueue = InProcessQueue() if settings is None else NatsQueue(settings)
        await queue.start()
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.close()


@contextlib.asynccontextmanager
async def consuming(queue: EventQueue, handler: Recorder) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(queue.consume(handler))
    await asyncio.sleep(0)  # let the consumer register before anything is published
    try:
        yield task
    finally:
        await queue.close()
        await asyncio.wait_for(task, 10)


async def test_a_published_batch_is_written_exactly_once(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    recorder = Recorder()
    batches = [Batch.of(make_events(5)) for _ in range(4)]
    async with consuming(queue, recorder):
        await asyncio.gather(*(queue.publish(batch) for batch in batches))
        expected = [event for batch in batches for event in batch.events]
        await eventually(lambda: len(recorder.written) >= len(expected))
        await asyncio.sleep(0.3)  # time for a (wrong) second delivery to show up
    # Events come back exactly as published: ids, microseconds, properties and all.
    assert sorted(recorder.written, key=lambda e: e.event_id) == sorted(
        expected, key=lambda e: e.event_id
    )


async def test_a_failed_write_loses_nothing(make_queue: QueueMaker) -> None:
    # In-process, publish raises (the API answers 503 and the client resends); on NATS the
    # batch is already durable and is delivered again. Either way it is written once.
    queue = await make_queue()
    recorder = Recorder(lambda _: TransientStorageError("down") if recorder.calls == 1 else None)
    batch = Batch.of(make_events(3))
    async with consuming(queue, recorder):
        try:
            await queue.publish(batch)
        except TransientStorageError:
            await queue.publish(batch)
        await eventually(lambda: len(recorder.written) >= 3)
    assert recorder.calls == 2
    assert sorted(e.event_id for e in recorder.written) == sorted(e.event_id for e in batch.events)


async def test_bad_data_spares_the_batches_written_with_it(make_queue: QueueMaker) -> None:
    def refuse_poison(batches: Sequence[Batch]) -> Exception | None:
        poisoned = any(e.user_id == "poison" for b in batches for e in b.events)
        return PermanentStorageError("invalid byte sequence") if poisoned else None

    queue = await make_queue()
    recorder = Recorder(refuse_poison, delay=0.05)
    good = [Batch.of(make_events(4)) for _ in range(3)]
    bad = Batch.of(make_events(2) + make_events(1, user="poison"))
    async with consuming(queue, recorder):
        results = await asyncio.gather(
            *(queue.publish(batch) for batch in [*good, bad]), return_exceptions=True
        )
        assert not any(isinstance(r, BaseException) for r in results[:3])
        await eventually(lambda: len(recorder.written) >= 12)
        await asyncio.sleep(0.3)
    written = {e.event_id for e in recorder.written}
    assert written >= {e.event_id for b in good for e in b.events}
    assert all(e.user_id != "poison" for e in recorder.written)


async def test_close_finishes_the_write_in_hand(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    recorder = Recorder(delay=0.5)
    batch = Batch.of(make_events(3))
    task = asyncio.create_task(queue.consume(recorder))
    publishing = asyncio.create_task(queue.publish(batch))
    await asyncio.wait_for(recorder.started.wait(), 10)
    await queue.close()  # while the handler is still writing
    await asyncio.wait_for(task, 10)
    assert len(recorder.written) == 3  # the write in hand completed, was not cut off
    await publishing  # and its publisher learned of success
    with pytest.raises(QueueUnavailableError):
        await queue.publish(Batch.of(make_events(1)))
    # Nothing comes back later: the batch was acknowledged before the queue closed.
    again = await make_queue()
    late = Recorder()
    async with consuming(again, late):
        await asyncio.sleep(1.2)  # past the NATS consumer's ack_wait of 1 s
    assert late.written == []


async def test_check_fails_once_the_queue_is_closed(make_queue: QueueMaker) -> None:
    queue = await make_queue()
    async with consuming(queue, Recorder()):
        await queue.check()
    with pytest.raises(QueueUnavailableError):
        await queue.check()
