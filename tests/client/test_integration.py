"""The SDK against a real ``evana serve`` (embedded SQLite) in a subprocess."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

import evana
from evana.client import RetryPolicy
from evana.errors import AuthenticationError, PermissionDeniedError
from evana.schema import ActiveUsers, Retention, TopEvents
from tests._evana import evana_serve, run_evana
from tests._services import free_port

from .conftest import Served, run_script


def count_of(client: evana.Client, name: str) -> int:
    report = client.stats.top_events(since="today", limit=1000)
    return next((row.count for row in report.events if row.event == name), 0)


def test_a_process_that_exits_without_flush_delivers_every_event(
    evana_server: Served,
) -> None:
    code = f"""
import evana
client = evana.Client({evana_server.url!r}, {evana_server.admin_key!r}, flush_at=200)
for n in range(3000):
    client.track("exit-without-flush", f"u_{{n % 300}}", {{"n": n}})
"""
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    with evana.Client(evana_server.url, evana_server.admin_key) as client:
        assert count_of(client, "exit-without-flush") == 3000


def test_the_read_api_returns_typed_reports(evana_server: Served) -> None:
    with evana.Client(evana_server.url, evana_server.admin_key) as client:
        for n in range(30):
            client.track("typed-read", f"reader_{n % 7}")
        assert client.flush(10)
        dau = client.stats.dau(since="today")
        assert isinstance(dau, ActiveUsers)
        assert dau.series[-1].users >= 7
        assert isinstance(client.stats.wau(since="7d"), ActiveUsers)
        assert len(client.stats.mau(since="3d").series) == 3
        top = client.stats.top_events(since="today", limit=1000)
        assert isinstance(top, TopEvents)
        row = next(r for r in top.events if r.event == "typed-read")
        assert (row.count, row.users) == (30, 7)
        cohorts = client.stats.retention(
            since="2w", period="day", periods=2, start_event="typed-read"
        )
        assert isinstance(cohorts, Retention)
        assert cohorts.cohorts[-1].size == 7
        assert cohorts.cohorts[-1].retained == [7, None]


def test_keys_are_checked_by_the_server(evana_server: Served) -> None:
    with evana.Client(evana_server.url, "evana_wrong_key") as client:
        with pytest.raises(AuthenticationError):
            client.send_batch([{"event": "a", "user_id": "u"}])
        with pytest.raises(AuthenticationError):
            client.stats.dau()


def test_an_ingest_key_sends_but_cannot_read(evana_server: Served) -> None:
    created = run_evana(
        "keys", "create", "--scope", "ingest", "--format", "json", cwd=evana_server.cwd
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    with evana.Client(evana_server.url, key) as client:
        result = client.send_batch(
            [{"event": "ingest-only", "user_id": "u"}, {"event": "", "user_id": "u"}]
        )
        assert result.accepted == 1
        assert result.rejected[0].index == 1
        with pytest.raises(PermissionDeniedError):
            client.stats.top_events()


def test_the_async_client_end_to_end(evana_server: Served) -> None:
    async def main() -> tuple[int, int]:
        async with evana.AsyncClient(evana_server.url, evana_server.admin_key) as client:
            for n in range(250):
                await client.track("async-e2e", f"u_{n % 25}", {"n": n})
            assert await client.flush(10)
            top = await client.stats.top_events(since="today", limit=1000)
            row = next(r for r in top.events if r.event == "async-e2e")
            return row.count, row.users

    assert asyncio.run(main()) == (250, 25)


def test_a_server_that_starts_late_still_gets_everything(tmp_path: Path) -> None:
    assert run_evana("db", "upgrade", cwd=tmp_path).returncode == 0  # keys never make one
    created = run_evana("keys", "create", "--scope", "admin", "--format", "json", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    port = free_port()
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5, budget=60)
    with evana.Client(f"http://127.0.0.1:{port}", key, retry=policy, flush_at=100) as client:
        for n in range(500):
            client.track("late-server", f"u_{n % 50}")
        time.sleep(3)  # nothing listens yet: the sender keeps retrying, track() never waited
        assert client.metrics.retries > 0
        assert client.metrics.delivered == 0
        with evana_serve(tmp_path, port=port) as server:
            assert client.flush(30)
            metrics = client.metrics
            assert (metrics.delivered, metrics.failed, metrics.dropped) == (500, 0, 0)
            with evana.Client(server.url, key) as reader:
                assert count_of(reader, "late-server") == 500


def test_the_readme_sdk_example_runs(evana_server: Served) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Client SDK", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("http://127.0.0.1:8000", evana_server.url)
    code = code.replace("evana_…", evana_server.admin_key)
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    users, top = out.stdout.splitlines()
    assert int(users) >= 1
    assert "signup" in top
