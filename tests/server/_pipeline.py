"""Helpers for the production pipeline's tests: events, waiting, worker processes, reports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from evana.server._batch import NormalizedEvent
from evana.server._storage import Database
from tests import reference as ref
from tests._evana import EVANA

BASE = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
NAMES = ["signup", "view", "buy", "share"]


def make_events(
    count: int, *, users: int = 12, days: int = 20, seed: int | None = None, user: str | None = None
) -> list[NormalizedEvent]:
    """``count`` events with fresh ids over ``days`` days from BASE (microsecond timestamps)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        stamp = BASE + dt.timedelta(microseconds=rnd.randrange(days * 86_400_000_000))
        out.append(
            NormalizedEvent(
                uuid.UUID(int=rnd.getrandbits(128), version=4),
                rnd.choice(NAMES),
                user or f"user-{rnd.randrange(users)}",
                stamp,
                {"n": rnd.randrange(100), "tag": "ünïcode ✓"} if rnd.random() < 0.5 else None,
                BASE,
            )
        )
    return out


def wire(event: NormalizedEvent) -> dict[str, Any]:
    """An event as the API takes it."""
    return {
        "event_id": str(event.event_id),
        "event": event.event,
        "user_id": event.user_id,
        "timestamp": event.timestamp.isoformat(),
        "properties": event.properties,
    }


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 20
) -> None:
    """Wait until ``check()`` is true (sync or async), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check}")
        await asyncio.sleep(0.05)


def wait_until(check: Callable[[], bool], timeout: float = 30, message: str = "") -> None:
    """Blocking :func:`eventually` for tests that drive processes."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message or check}")
        time.sleep(0.1)


def stored_ids(db_url: str) -> set[uuid.UUID]:
    """The event ids in the ``events`` table."""
    db = Database(db_url)
    try:
        with db.read() as conn:
            return {row[0] for row in conn.execute(text("SELECT event_id FROM events"))}
    finally:
        db.dispose()


def execute(db_url: str, statement: str) -> None:
    """Run one SQL statement in its own transaction."""
    db = Database(db_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        db.dispose()


@dataclass
class WorkerProcess:
    """A running ``evana worker`` and everything it printed."""

    proc: subprocess.Popen[str]
    metrics_port: int
    output: list[str] = field(default_factory=list)

    def log(self) -> str:
        return "".join(self.output)

    def metric(self, name: str) -> float:
        """One unlabelled series of the worker's /metrics."""
        body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
        assert match, f"{name} not in /metrics"
        return float(match.group(1))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@contextlib.contextmanager
def evana_worker(
    env: Mapping[str, str], metrics_port: int = 0, *args: str
) -> Iterator[WorkerProcess]:
    """Run ``evana worker`` (stopped with SIGKILL at the end if still running)."""
    proc = subprocess.Popen(
        [EVANA, "worker", "--metrics-port", str(metrics_port), "--log-level", "info", *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    worker = WorkerProcess(proc, metrics_port)
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            worker.output.append(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: "msg=worker_started" in worker.log() or proc.poll() is not None,
            30,
            "the worker to start",
        )
        assert proc.poll() is None, worker.log()
        yield worker
    finally:
        if proc.poll() is None:
            worker.kill()
        thread.join(10)
        stdout.close()


def check_reports(url: str, key: str, events: Sequence[NormalizedEvent], days: int = 20) -> None:
    """Every report of the API equals the brute-force reference over ``events``."""
    evs = [ref.Ev(e.event, e.user_id, e.timestamp) for e in events]
    since, until = BASE.date(), (BASE + dt.timedelta(days=days)).date()
    params = {"since": str(since), "until": str(until)}
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for report, window in (("dau", 1), ("wau", 7), ("mau", 30)):
            got = client.get(f"/v1/stats/{report}", params=params).json()
            assert got == ref.active(evs, since, until, window), report
        got = client.get("/v1/stats/top-events", params={**params, "limit": 10}).json()
        assert got == ref.top(evs, since, until, 10)
        got = client.get(
            "/v1/stats/retention", params={**params, "period": "day", "periods": 8}
        ).json()
        assert got == ref.retention(evs, since, until, "day", 8)
