"""The JetStream queue beyond the shared contract: message format, splitting, de-duplication,
retries with growing delays, dead letters, bisection, long writes, outages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import doctest
import itertools
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import nats
import pytest

from evana.errors import (
    ConfigurationError,
    PermanentStorageError,
    QueueError,
    QueueUnavailableError,
    TransientStorageError,
)
from evana.server import Settings, _logging, _metrics
from evana.server._batch import NormalizedEvent
from evana.server._dlq import DeadLetterQueue
from evana.server._queue import Batch, NatsQueue, _codec, _deadletter, _jetstream
from evana.server._queue._codec import decode, encode
from evana.server._queue._jetstream import Names, ensure_streams
from tests._services import free_port, throwaway_nats
from tests.server._pipeline import eventually, make_events
from tests.server.test_queue_contract import Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the message format (no server needed) ------------------------------------------------


@pytest.mark.parametrize("module", [_codec, _deadletter, _jetstream, _logging, _metrics])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_a_batch_survives_encoding_exactly() -> None:
    events = make_events(200)
    events.append(
        NormalizedEvent(
            uuid.uuid4(),
            'quote " and \\ and ✓',
            "ユーザー",
            dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC),
            {"nested": {"list": [1, 2.5, None, True, "x"]}, "big": 2**60},
            dt.datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        )
    )
    batch = Batch.of(events)
    [message] = encode(batch, 1 << 20)
    assert decode(message) == batch


def test_a_big_batch_is_split_into_messages_of_whole_events() -> None:
    batch = Batch.of(make_events(500))
    parts = encode(batch, 8 * 1024)
    assert len(parts) > 3
    assert all(len(part) <= 8 * 1024 for part in parts)
    decoded = [decode(part) for part in parts]
    assert {d.id for d in decoded} == {batch.id}
    assert [e for d in decoded for e in d.events] == batch.events


def test_an_event_larger_than_a_message_is_refused() -> None:
    event = make_events(1)[0]
    huge = NormalizedEvent(
        event.event_id, "e", "u", event.timestamp, {"x": "y" * 5000}, event.received_at
    )
    with pytest.raises(QueueError, match="max_payload"):
        encode(Batch.of([huge]), 4096)


@pytest.mark.parametrize(
    "payload",
    [b"not json", b'{"v": 2, "batch": "x", "events": []}', b'{"v": 1, "batch": "x"}',
     b'{"v": 1, "batch": "x", "events": [["nothex", "e", "u", 0, null, 0]]}',
     b'{"v": 1, "batch": "x", "events": [["' + b"0" * 32 + b'", 5, "u", 0, null, 0]]}'],
)  # fmt: skip
def test_anything_else_is_not_a_batch(payload: bytes) -> None:
    with pytest.raises(ValueError, match="not an evana batch message"):
        decode(payload)


# -- against JetStream ----------------------------------------------------------------------


def nats_settings(url: str, prefix: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": "sqlite://",
        "nats_url": url,
        "nats_subject_prefix": prefix,
        "retry_base_seconds": 0.05,
        "retry_attempts": 2,
        # Long enough that a busy machine's stalled event loop does not redeliver a message the
        # recorder has written (it counts every write); the ack_wait tests set their own.
        "worker_ack_wait_seconds": 5,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def consumer(settings: Settings, recorder: Recorder, **kw: int) -> AsyncIterator[NatsQueue]:
    queue = NatsQueue(settings, **kw)
    await queue.start()
    task = asyncio.create_task(queue.consume(recorder))
    try:
        yield queue
    finally:
        await queue.close()
        await asyncio.wait_for(task, 10)


async def dead_letters(settings: Settings) -> list[dict[str, object]]:
    async with DeadLetterQueue(settings) as dlq:
        return [(await dlq.show(e.id)).details() for e in await dlq.entries()]


async def stream_messages(settings: Settings, stream: str) -> int:
    nc = await nats.connect(settings.nats_url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


@pytest.mark.integration
async def test_a_batch_over_max_payload_goes_as_several_messages(
    nats_url: str, nats_prefix: str
) -> None:
    settings = nats_settings(nats_url, nats_prefix)
    padded = [replace(e, properties={"pad": "x" * 500}) for e in make_events(2500, seed=1)]
    batch = Batch.of(padded)  # about 1.5 MB: more than the server's 1 MB max_payload
    queue = NatsQueue(settings)
    await queue.start()
    await queue.publish(batch)
    await queue.publish(batch)  # a client retry: every part is a duplicate within the window
    parts = await stream_messages(settings, queue.names.stream)
    await queue.close()
    assert parts == len(encode(batch, 1 << 20))
    assert parts > 1
    recorder = Recorder()
    async with consumer(settings, recorder):
        await eventually(lambda: len(recorder.written) >= 2500)
    assert sorted(e.event_id for e in recorder.written) == sorted(e.event_id for e in batch.events)


@pytest.mark.integration
async def test_retries_wait_longer_each_time_then_dead_letter(
    nats_url: str, nats_prefix: str
) -> None:
    # Delays far enough apart that a busy machine's jitter cannot reorder them.
    settings = nats_settings(nats_url, nats_prefix, retry_base_seconds=0.3, retry_attempts=3)
    assert settings.retry_delays() == pytest.approx([0.3, 0.9, 2.7])
    times: list[float] = []

    def failing(_: Sequence[Batch]) -> Exception:
        times.append(time.monotonic())
        return TransientStorageError('relation "events" does not exist')

    batch = Batch.of(make_events(7))
    async with consumer(settings, Recorder(failing)) as queue:
        started = dt.datetime.now(dt.UTC)
        await queue.publish(batch)
        await eventually(lambda: stream_messages(settings, queue.names.dlq_stream), 30)
    [letter] = await dead_letters(settings)
    # A delivery the worker never saw (Python 3.11's wait_for can drop a message that arrives
    # as a fetch times out) comes back after ack_wait and counts as an attempt: rare, allowed.
    lost = int(letter["attempts"]) - 4
    assert 0 <= lost <= 1, letter["attempts"]
    assert len(times) == 4 if not lost else len(times) in (3, 4)  # which delivery was lost
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    if not lost:
        for gap, delay in zip(gaps, settings.retry_delays(), strict=True):
            # Never sooner than its delay; later by the worker's fetch and batching waits at most.
            assert delay <= gap < delay + 1.0, gaps
        assert gaps == sorted(gaps)
    else:
        assert all(gap >= settings.retry_delays()[0] for gap in gaps), gaps
    assert letter["events"] == 7
    assert letter["kind"] == "transient"
    assert 'relation "events" does not exist' in str(letter["error"])
    first = dt.datetime.fromisoformat(str(letter["first_failed_at"]))
    last = dt.datetime.fromisoformat(str(letter["failed_at"]))
    # The first failure survived three redeliveries; the span covers every delay.
    assert started <= first < started + dt.timedelta(seconds=0.5)
    assert (last - first).total_seconds() >= sum(settings.retry_delays())
    assert {e["event_id"] for e in letter["data"]} == {str(e.event_id) for e in batch.events}  # type: ignore[attr-defined]

    # Replayed after the database healed: written once, and the DLQ is empty again.
    recorder = Recorder()
    async with consumer(settings, recorder):
        async with DeadLetterQueue(settings) as dlq:
            assert [e.id for e in await dlq.replay_all()] == [letter["id"]]
        await eventually(lambda: len(recorder.written) >= 7)
    assert sorted(e.event_id for e in recorder.written) == sorted(e.event_id for e in batch.events)
    assert await dead_letters(settings) == []


@pytest.mark.integration
async def test_only_the_events_the_database_refuses_are_dead_lettered(
    nats_url: str, nats_prefix: str
) -> None:
    def refuse_poison(batches: Sequence[Batch]) -> Exception | None:
        if any(e.user_id == "poison" for b in batches for e in b.events):
            return PermanentStorageError("invalid byte sequence for encoding UTF8")
        return None

    settings = nats_settings(nats_url, nats_prefix)
    good = [Batch.of(make_events(40)) for _ in range(3)]
    poison = make_events(1, user="poison")[0]
    mixed = Batch.of([*make_events(20), poison, *make_events(20)])
    queue = NatsQueue(settings)
    await queue.start()
    for batch in [good[0], mixed, *good[1:]]:  # published first: fetched and written together
        await queue.publish(batch)
    await queue.close()
    recorder = Recorder(refuse_poison)
    async with consumer(settings, recorder):
        await eventually(lambda: len(recorder.written) >= 160)
        await eventually(lambda: stream_messages(settings, queue.names.dlq_stream), 10)
    assert len(recorder.written) == 160
    assert poison not in recorder.written
    assert recorder.calls < 40  # bisected, not tried event by event
    [letter] = await dead_letters(settings)
    assert (letter["events"], letter["attempts"], letter["kind"]) == (1, 1, "permanent")
    assert letter["data"] == [
        {
            "event_id": str(poison.event_id),
            "event": poison.event,
            "user_id": "poison",
            "timestamp": poison.timestamp.isoformat().replace("+00:00", "Z"),
            "properties": poison.properties,
        }
    ]


@pytest.mark.integration
async def test_messages_are_gathered_into_transactions_of_many_events(
    nats_url: str, nats_prefix: str
) -> None:
    settings = nats_settings(nats_url, nats_prefix, worker_fetch_batch=2, worker_batch_events=200)
    batches = [Batch.of(make_events(30)) for _ in range(12)]
    queue = NatsQueue(settings)
    await queue.start()
    for batch in batches:
        await queue.publish(batch)
    await queue.close()
    sizes: list[int] = []

    def size(group: Sequence[Batch]) -> None:
        sizes.append(sum(len(b.events) for b in group))

    async with consumer(settings, Recorder(size)):  # type: ignore[arg-type]
        await eventually(lambda: sum(sizes) >= 360)
    # Several fetches of 2 messages (60 events) each make one transaction of >= 200 events.
    assert sizes[0] >= 200
    assert len(sizes) <= 3
    assert sum(sizes) == 360


@pytest.mark.integration
async def test_a_poisoned_message_in_a_group_spares_the_others(
    nats_url: str, nats_prefix: str
) -> None:
    # Not a refusal the database names (that bisects): an error that looks transient, raised
    # by whatever write holds the poisoned message. Its group is written message by message.
    def choke(batches: Sequence[Batch]) -> Exception | None:
        if any(e.user_id == "poison" for b in batches for e in b.events):
            return RuntimeError("server closed the connection unexpectedly")
        return None

    settings = nats_settings(nats_url, nats_prefix, retry_attempts=2)
    good = [Batch.of(make_events(40)) for _ in range(4)]
    poisoned = Batch.of([*make_events(10), *make_events(1, user="poison")])
    queue = NatsQueue(settings)
    await queue.start()
    for batch in [good[0], good[1], poisoned, *good[2:]]:  # fetched and written together
        await queue.publish(batch)
    await queue.close()
    recorder = Recorder(choke)
    async with consumer(settings, recorder) as queue:
        await eventually(lambda: len(recorder.written) >= 160)
        await eventually(lambda: stream_messages(settings, queue.names.dlq_stream), 10)
    assert sorted(e.event_id for e in recorder.written) == sorted(
        e.event_id for b in good for e in b.events
    )
    [letter] = await dead_letters(settings)  # only the poisoned message, after its retries
    assert (letter["events"], letter["attempts"], letter["kind"]) == (11, 3, "transient")
    assert {e["event_id"] for e in letter["data"]} == {  # type: ignore[attr-defined]
        str(e.event_id) for e in poisoned.events
    }


@pytest.mark.integration
async def test_a_message_that_is_not_a_batch_is_dead_lettered(
    nats_url: str, nats_prefix: str
) -> None:
    settings = nats_settings(nats_url, nats_prefix)
    recorder = Recorder()
    async with consumer(settings, recorder) as queue:
        nc = await nats.connect(nats_url)
        await nc.jetstream().publish(queue.names.ingest_subject, b"hello")
        await nc.close()
        await eventually(lambda: stream_messages(settings, queue.names.dlq_stream), 10)
    [letter] = await dead_letters(settings)
    assert letter["kind"] == "undecodable"
    assert recorder.calls == 0


@pytest.mark.integration
async def test_a_write_longer_than_ack_wait_is_not_redelivered(
    nats_url: str, nats_prefix: str
) -> None:
    settings = nats_settings(nats_url, nats_prefix, worker_ack_wait_seconds=1)
    recorder = Recorder(delay=2.5)  # in_progress() keeps the message ours meanwhile
    async with consumer(settings, recorder, consumers=2) as queue:
        await queue.publish(Batch.of(make_events(3)))
        await eventually(lambda: len(recorder.written) >= 3, 10)
    assert recorder.calls == 1


def test_no_responders_names_a_stream_without_leader_too() -> None:
    """A NATS cluster electing a stream leader answers "no responders": the 503 says why."""
    error = _jetstream.unavailable(nats.errors.NoRespondersError(), "JetStream did not store it")
    assert "JetStream is off, or the stream has no leader" in str(error)


@pytest.mark.integration
async def test_publishing_fails_fast_while_nats_is_down_and_resumes_after() -> None:
    port, store = free_port(), tempfile.mkdtemp(prefix="evana-nats-")
    with throwaway_nats(port, store) as url:
        settings = nats_settings(url, "outage", publish_timeout_seconds=2)
        queue = NatsQueue(settings)
        await queue.start()
        await queue.publish(Batch.of(make_events(1)))
        await queue.check()
    # Until the client notices the server is gone, a publish can only time out; after that
    # it fails at once, and never is it sent later (no buffering while disconnected).
    with pytest.raises(QueueUnavailableError):
        await queue.publish(Batch.of(make_events(1)))
    with pytest.raises(QueueUnavailableError):
        await queue.check()
    start = time.monotonic()
    with pytest.raises(QueueUnavailableError, match="not connected"):
        await queue.publish(Batch.of(make_events(1)))
    assert time.monotonic() - start < 0.2
    with throwaway_nats(port, store):

        async def ready() -> bool:
            try:
                await queue.check()
            except QueueUnavailableError:
                return False
            return True

        await eventually(ready, 10)  # the same queue object: nothing restarted
        await queue.publish(Batch.of(make_events(1)))
        # The two acknowledged batches are stored; neither refused one ever arrives.
        assert await stream_messages(settings, queue.names.stream) == 2
        await queue.close()


@pytest.mark.integration
async def test_a_stream_of_the_same_name_for_other_subjects_is_refused(
    nats_url: str, nats_prefix: str
) -> None:
    settings = nats_settings(nats_url, nats_prefix)
    names = Names.of(nats_prefix)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name=names.stream, subjects=[f"{nats_prefix}.other"])
    with pytest.raises(ConfigurationError, match="choose another EVANA_NATS_SUBJECT_PREFIX"):
        await ensure_streams(js, names, settings)
    await nc.close()


@pytest.mark.integration
async def test_streams_lost_with_the_server_store_are_made_again(
    nats_url: str, nats_prefix: str
) -> None:
    settings = nats_settings(nats_url, nats_prefix)
    recorder = Recorder()
    async with consumer(settings, recorder) as worker:
        api = NatsQueue(settings)
        await api.start()
        await api.publish(Batch.of(make_events(2)))
        await eventually(lambda: len(recorder.written) == 2)
        nc = await nats.connect(nats_url)  # as if NATS came back without its volume
        await nc.jetstream().delete_stream(worker.names.stream)
        await nc.close()
        batch = Batch.of(make_events(3))

        async def published() -> bool:
            try:
                await api.publish(batch)
            except QueueUnavailableError:
                return False
            return True

        await eventually(published, 10)  # the API makes the stream again
        await eventually(lambda: len(recorder.written) == 5, 15)  # the worker its consumer
        await api.close()
