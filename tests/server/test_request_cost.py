"""What one cheap request may cost a real ``evana serve``, on both databases.

A body that is cheap to send must stay cheap to refuse: 3 KB of gzip inflating to a million
empty events is answered 413 in well under a second, ``/healthz`` keeps answering meanwhile
(measured from a concurrent client), and the server's memory grows by a bounded amount.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._evana import ServerProcess, evana_serve

pytestmark = pytest.mark.slow


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):  # the peak: a brief spike counts too
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    env: dict[str, str] = {}
    if request.param == "postgresql":  # production: PostgreSQL + NATS, the API only publishes
        env = {
            "EVANA_DATABASE_URL": request.getfixturevalue("pg_fresh_url"),
            "EVANA_NATS_URL": request.getfixturevalue("nats_url"),
            "EVANA_NATS_SUBJECT_PREFIX": request.getfixturevalue("nats_prefix"),
        }
    with evana_serve(tmp_path, env=env) as running:
        assert running.admin_key
        yield running


class HealthProbe:
    """Polls /healthz from another thread and keeps the slowest answer's time."""

    def __init__(self, url: str) -> None:
        self.url, self.slowest, self.answers = url, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                assert client.get(f"{self.url}/healthz").status_code == 200
                self.slowest = max(self.slowest, time.perf_counter() - started)
                self.answers += 1
                time.sleep(0.01)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(0.2)  # one more answer after the attack
        self._stop.set()
        self._thread.join(60)


def _post(server: ServerProcess, body: bytes) -> httpx.Response:
    headers = {
        "X-API-Key": server.admin_key or "",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    return httpx.post(f"{server.url}/v1/events", content=body, headers=headers, timeout=120)


#: A million empty events: 3 MB of JSON (under the 10 MiB body limit), about 3 KB of gzip.
MILLION_EMPTY = gzip.compress(b'{"events":[' + b",".join([b"{}"] * 1_000_000) + b"]}", 9)


def test_a_small_body_with_a_huge_event_count_is_refused_fast(server: ServerProcess) -> None:
    """Before: 413 after 12-22 s, /healthz stalled as long, +1.2 GB. Counting stops at the
    limit, before any event is built, off the event loop."""
    assert len(MILLION_EMPTY) < 4096
    before = _rss_kib(server.proc.pid)
    with HealthProbe(server.url) as health:
        started = time.perf_counter()
        answer = _post(server, MILLION_EMPTY)
        elapsed = time.perf_counter() - started
    assert answer.status_code == 413, answer.text
    assert elapsed < 2.0
    assert health.answers > 0
    assert health.slowest < 1.0
    assert "more than 5000 events" in answer.json()["detail"]
    grown_mib = (_rss_kib(server.proc.pid) - before) / 1024
    assert grown_mib < 100, f"the server grew by {grown_mib:.0f} MiB"


def test_many_such_requests_at_once_stay_bounded(server: ServerProcess) -> None:
    """Sixteen at once, plus bodies that are expensive in other ways (deep nesting, millions
    of scalars): every one answered with its 4xx, health and memory bounded throughout."""
    bodies = [
        MILLION_EMPTY,
        gzip.compress(b'{"events":[' + b",".join([b"0"] * 3_000_000) + b"]}"),
        gzip.compress(b'{"events":[' + b"[" * 3_000_000 + b"]}"),
        gzip.compress(b'{"sent_at":' + b"[" * 100_000 + b"]" * 100_000 + b',"events":[]}'),
    ]
    before = _rss_kib(server.proc.pid)
    with (
        HealthProbe(server.url) as health,
        concurrent.futures.ThreadPoolExecutor(16) as pool,
    ):
        started = time.perf_counter()
        answers = list(pool.map(lambda i: _post(server, bodies[i % len(bodies)]), range(16)))
        elapsed = time.perf_counter() - started
    assert {a.status_code for a in answers} <= {413, 422}, [a.text for a in answers]
    assert all(json.loads(a.text)["error"] for a in answers)
    assert elapsed < 10.0
    assert health.slowest < 2.0
    grown_mib = (_rss_kib(server.proc.pid) - before) / 1024
    assert grown_mib < 300, f"the server grew by {grown_mib:.0f} MiB"
