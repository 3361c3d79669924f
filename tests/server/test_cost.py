"""The guards of ``evana.server._cost``: the early event count, the body budget, the gate."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator

import pytest

from evana.errors import ServiceUnavailableError
from evana.server._body import read_body
from evana.server._cost import BodyBudget, ValidationGate, too_many_events


def _body(items: list[object], **extra: object) -> bytes:
    return json.dumps({**extra, "events": items}).encode()


@pytest.mark.parametrize("count", [0, 1, 9, 10])
def test_up_to_the_limit_is_not_too_many(count: int) -> None:
    assert not too_many_events(_body([{"a": [1, 2, ","]}] * count), limit=10)


@pytest.mark.parametrize(
    "body",
    [
        _body([{}] * 11),
        _body([0] * 11, sent_at="2026-11-02T10:00:00Z"),  # events not the first key
        b' { "events" :\n[ ' + b" ,\n".join([b'{"s": "a,]}\\"["}'] * 11) + b" ] } ",
        b'{"events": [1], "events": [' + b",".join([b"[[]]"] * 11) + b"]}",  # repeated key
        _body([{}] * 12)[:-5],  # cut short after the limit: still over it
    ],
)
def test_more_than_the_limit_is_too_many(body: bytes) -> None:
    assert too_many_events(body, limit=10)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[1,2,3,4,5,6,7,8,9,10,11,12]",
        b'{"events": {}}',
        b"{" * 20 + b",," * 20,
        b"\xff,," * 20,
    ],
)
def test_what_is_not_a_batch_is_left_to_validation(body: bytes) -> None:
    assert not too_many_events(body, limit=10)


def test_a_million_items_cost_only_the_limit() -> None:
    body = b'{"events":[' + b",".join([b"{}"] * 1_000_000) + b"]}"
    started = time.perf_counter()
    assert too_many_events(body, limit=5000)
    assert time.perf_counter() - started < 0.5
    deep = b'{"events":[' + b"[" * 1_000_000 + b"]}"
    started = time.perf_counter()
    assert not too_many_events(deep, limit=5000)  # refused by validation (too deep)
    assert time.perf_counter() - started < 0.5


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_the_budget_charges_bodies_as_they_arrive_and_frees_them_after() -> None:
    budget = BodyBudget(100)

    async def scenario() -> None:
        with budget.hold() as take:
            body = await read_body(
                _chunks(b"x" * 60), encoding=None, limit=1000, declared=None, take=take
            )
            assert len(body) == 60 and budget.used == 60  # noqa: PT018
            with budget.hold() as other, pytest.raises(ServiceUnavailableError) as caught:
                await read_body(
                    _chunks(b"y" * 30, b"y" * 30),
                    encoding=None,
                    limit=1000,
                    declared=None,
                    take=other,
                )
            assert caught.value.headers["Retry-After"] == "1"
            assert budget.used == 60  # the refused one gave back what it took
        assert budget.used == 0

    asyncio.run(scenario())


def test_gzip_bodies_are_charged_decompressed() -> None:
    budget = BodyBudget(1000)

    async def scenario() -> None:
        with budget.hold() as take, pytest.raises(ServiceUnavailableError):
            await read_body(
                _chunks(gzip.compress(b" " * 5000)),
                encoding="gzip",
                limit=10_000,
                declared=None,
                take=take,
            )

    asyncio.run(scenario())
    assert budget.used == 0


def test_the_gate_runs_work_off_the_loop_a_few_at_a_time() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work(loop_thread: int) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return threading.get_ident() != loop_thread

    async def scenario() -> list[bool]:
        gate = ValidationGate(2)
        me = threading.get_ident()
        return await asyncio.gather(*(gate.run(work, me) for _ in range(6)))

    assert all(asyncio.run(scenario()))
    assert most == 2


def test_a_body_that_stalls_is_refused_at_the_deadline() -> None:
    """A client that sends a few bytes and stops (slowloris) does not hold the request."""
    from evana.errors import APIError

    async def stalling() -> AsyncIterator[bytes]:
        yield b'{"events": ['
        await asyncio.sleep(30)
        yield b"]}"

    async def scenario() -> None:
        with pytest.raises(APIError) as caught:
            await read_body(stalling(), encoding=None, limit=1000, declared=None, deadline=0.2)
        assert caught.value.status_code == 408
        assert caught.value.error == "request_timeout"

    started = time.perf_counter()
    asyncio.run(scenario())
    assert time.perf_counter() - started < 5
