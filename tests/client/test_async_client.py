"""``evana.AsyncClient``: the same behaviour as ``Client``, on an asyncio task."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

import evana
from evana.client import MockTransport, Request, Response, RetryPolicy
from evana.errors import (
    ConfigurationError,
    EvanaError,
    InvalidEventError,
    PermissionDeniedError,
    QueueFullError,
)

from .conftest import URL, accepted, batch_of

FAST = RetryPolicy(base_delay=0.001, max_delay=0.01, budget=2)


def make(**options: Any) -> evana.AsyncClient:
    options.setdefault("retry", FAST)
    return evana.AsyncClient(URL, "key", **options)


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(main())  # type: ignore[arg-type]


async def eventually(predicate: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.005)
    return False


def test_track_queues_and_one_task_sends_batches(events_route: respx.Route) -> None:
    async def main() -> None:
        async with make(flush_at=10, flush_interval=30) as client:
            ids = [await client.track("view", f"u_{n}", {"n": n}) for n in range(25)]
            assert {i.version for i in ids} == {7}
            assert await eventually(lambda: events_route.call_count == 2)
            assert client.metrics.queued == 5
            assert await client.flush(5)
            assert client.metrics.delivered == 25

    run(main)
    sizes = [len(batch_of(call.request)["events"]) for call in events_route.calls]
    assert sizes == [10, 10, 5]
    assert events_route.calls[0].request.headers["content-encoding"] == "gzip"


def test_a_partial_batch_goes_out_after_the_interval(events_route: respx.Route) -> None:
    async def main() -> None:
        async with make(flush_at=100, flush_interval=0.1) as client:
            await client.track("view", "u_1")
            assert await eventually(lambda: events_route.call_count == 1, timeout=2)

    run(main)


def test_retries_dedup_and_rejects(api: respx.MockRouter) -> None:
    route = api.post("/v1/events")
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.Response(503, json={"error": "unavailable"}),
        httpx.Response(202, json={"accepted": 1, "rejected": [{"index": 1, "errors": ["bad"]}]}),
    ]
    seen: list[tuple[dict[str, Any], EvanaError]] = []
    same = uuid.uuid4()

    async def main() -> None:
        async with make(on_error=lambda e, error: seen.append((e, error))) as client:
            await client.track("a", "u_1", event_id=same)
            await client.track("a", "u_1", event_id=same)
            await client.track("b", "u_2")
            assert await client.flush(5) is False
            metrics = client.metrics
            assert (metrics.retries, metrics.duplicates, metrics.rejected) == (2, 1, 1)

    run(main)
    assert route.call_count == 3
    assert seen[0][0]["event"] == "b"
    assert isinstance(seen[0][1], InvalidEventError)


def test_invalid_events_and_strict_mode(events_route: respx.Route) -> None:
    async def main() -> None:
        async with make() as client:
            await client.track("", "u")
            assert client.metrics.invalid == 1
        async with make(strict=True) as client:
            with pytest.raises(InvalidEventError):
                await client.track("", "u")

    run(main)


def test_queue_policies(api: respx.MockRouter) -> None:
    release = asyncio.Event()
    held = []

    async def slow(request: httpx.Request) -> httpx.Response:
        held.append(request)
        await release.wait()
        return accepted(request)

    api.post("/v1/events").mock(side_effect=slow)

    async def main() -> None:
        dropped: list[str] = []
        drop = make(flush_at=1, max_queue_size=1, on_drop=lambda e, r: dropped.append(r))
        await drop.track("a", "u_0")
        assert await eventually(lambda: len(held) == 1)
        await drop.track("a", "u_1")
        await drop.track("a", "u_2")
        assert dropped == ["queue_full"]
        raising = make(flush_at=1, max_queue_size=1, on_full="raise")
        await raising.track("a", "u_0")
        assert await eventually(lambda: len(held) == 2)
        await raising.track("a", "u_1")
        with pytest.raises(QueueFullError):
            await raising.track("a", "u_2")
        blocking = make(flush_at=1, max_queue_size=1, on_full="block")
        await blocking.track("a", "u_0")
        assert await eventually(lambda: len(held) == 3)
        await blocking.track("a", "u_1")
        blocked = asyncio.create_task(blocking.track("a", "u_2"))
        await asyncio.sleep(0.2)
        assert not blocked.done()
        release.set()
        await asyncio.wait_for(blocked, 5)
        for client in (drop, raising, blocking):
            assert await client.close(5)
        assert blocking.metrics.delivered == 3

    run(main)


def test_sync_mode_sends_inline_and_disabled_sends_nothing(events_route: respx.Route) -> None:
    async def main() -> None:
        async with make(sync_mode=True) as client:
            await client.track("a", "u")
            assert events_route.call_count == 1
            assert client._task is None
        async with make(disabled=True) as client:
            await client.track("a", "u")
            assert client._task is None

    run(main)
    assert events_route.call_count == 1


def test_send_batch_and_stats(api: respx.MockRouter) -> None:
    api.post("/v1/events").respond(202, json={"accepted": 2, "rejected": []})
    api.get("/v1/stats/top-events").respond(403, json={"error": "forbidden", "detail": "read"})

    async def main() -> None:
        async with make() as client:
            result = await client.send_batch([{"event": "a", "user_id": "u"}] * 2)
            assert result.accepted == 2
            with pytest.raises(PermissionDeniedError, match="read"):
                await client.stats.top_events(since="7d")

    run(main)


def test_events_left_by_one_event_loop_are_sent_by_the_next(events_route: respx.Route) -> None:
    client = make(flush_at=1000, flush_interval=30)

    async def first() -> None:
        for n in range(3):
            await client.track("a", f"u_{n}")

    async def second() -> None:
        await client.track("a", "u_3")
        assert await client.flush(5)
        await client.track("a", "u_4")

    async def third() -> None:
        assert await client.close()  # on a third loop, with one event left by the second

    run(first)  # asyncio.run() returns and cancels the sender with 3 events queued
    run(second)
    run(third)
    assert sum(len(batch_of(c.request)["events"]) for c in events_route.calls) == 5


def test_flush_times_out_and_close_drops_what_is_left(api: respx.MockRouter) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    api.post("/v1/events").mock(side_effect=never)
    dropped: list[str] = []

    async def main() -> None:
        client = make(flush_at=1, on_drop=lambda e, r: dropped.append(r))
        await client.track("a", "u_0")
        await client.track("a", "u_1")
        assert await client.flush(0.1) is False
        started = time.monotonic()
        assert await client.close(0.2) is False
        assert time.monotonic() - started < 1
        await client.track("a", "u_2")

    run(main)
    assert dropped == ["shutdown", "shutdown", "closed"]  # queued, then in flight, then late


def test_the_transport_must_fit_the_client() -> None:
    sync_only = evana.client.HTTPTransport(URL)
    with pytest.raises(ConfigurationError, match="handle_async_request"):
        evana.AsyncClient(URL, "key", transport=sync_only)  # type: ignore[arg-type]
    sync_only.close()
    mock = MockTransport(lambda request: Response(202, {}, b'{"accepted": 0, "rejected": []}'))
    assert isinstance(mock.handle_request(Request("POST", "/v1/events")), Response)
    run(lambda: evana.AsyncClient(URL, "key", transport=mock).close())
