"""Failures that used to be silent, made visible through a real ``evana serve``: the SQLite file
deleted under an embedded server, and (production) events piling up with no worker consuming.
Each shows in ``/readyz``, a metric, a log line and ``evana status``; ``/healthz`` stays up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from tests._evana import evana_serve, run_evana

from ._pipeline import evana_worker, make_events, stored_ids, wait_until, wire


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def status(url: str, key: str) -> tuple[int, dict[str, object]]:
    done = run_evana("status", "--format", "json", "--url", url, "--api-key", key, timeout=60)
    return done.returncode, json.loads(done.stdout)


def post(url: str, key: str, count: int, seed: int) -> httpx.Response:
    events = [wire(e) for e in make_events(count, seed=seed)]
    return httpx.post(
        f"{url}/v1/events", json={"events": events}, headers={"X-API-Key": key}, timeout=30
    )


def test_embedded_server_notices_its_database_file_deleted(tmp_path: Path) -> None:
    path = tmp_path / "evana.db"
    env = {"EVANA_DATABASE_URL": f"sqlite:///{path}"}
    with evana_serve(tmp_path, env) as api:
        key = api.admin_key
        assert key
        assert post(api.url, key, 5, seed=1).status_code == 202
        code, found = status(api.url, key)
        assert code == 0
        assert found == {
            "status": "ready",
            "mode": "embedded",
            "database": "ok",
            "queue": "ok",
            "workers": None,
            "pending": None,
            "unacked": None,
            "dead_letters": None,
        }
        assert metric(httpx.get(f"{api.url}/metrics").text, "evana_database_file_missing") == 0
        table = run_evana("status", "--url", api.url, "--api-key", key)
        assert table.returncode == 0, table.stderr
        assert "database" in table.stdout
        assert "embedded" in table.stdout

        os.unlink(path)  # an operator's mistake, a cleanup script, a volume remounted...

        ready = httpx.get(f"{api.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert "was deleted" in ready.json()["detail"]["database"]
        assert str(path) in ready.json()["detail"]["database"]
        refused = post(api.url, key, 5, seed=2)  # never a 202 for events a restart would lose
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"]
        assert "was deleted" in refused.json()["detail"]
        assert httpx.get(f"{api.url}/healthz").status_code == 200  # liveness: still serving
        assert metric(httpx.get(f"{api.url}/metrics").text, "evana_database_file_missing") == 1
        code, found = status(api.url, key)
        assert code == 1
        assert found["status"] == "not_ready"
        assert "was deleted" in str(found["database"])
        wait_until(lambda: "msg=database_file_gone" in "".join(api.output), 10, "the log line")
        assert not path.exists()  # nothing made a new, empty database behind the operator


@pytest.mark.integration
def test_production_readiness_says_when_no_worker_consumes(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    env = {
        "EVANA_DATABASE_URL": pg_fresh_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
        "EVANA_WORKER_ACK_WAIT_SECONDS": "2",
    }
    with evana_serve(tmp_path, env) as api:
        key = api.admin_key
        assert key
        ready = httpx.get(f"{api.url}/readyz", timeout=10).json()
        assert ready == {
            "status": "ready",
            "database": "ok",
            "queue": "ok",
            "workers": "none",  # no worker, but nothing waits for one
            "pending": 0,
        }
        for seed in range(3):
            assert post(api.url, key, 10, seed=seed).status_code == 202

        answer = httpx.get(f"{api.url}/readyz", timeout=10)
        assert answer.status_code == 200  # the API still makes every batch durable
        assert answer.json() == {
            "status": "degraded",
            "database": "ok",
            "queue": "ok",
            "workers": "none: 3 messages waiting for a worker",
            "pending": 3,
        }
        metrics = httpx.get(f"{api.url}/metrics").text
        assert metric(metrics, "evana_workers_consuming") == 0
        assert metric(metrics, "evana_queue_lag_messages") == 3
        assert "msg=readiness status=degraded" in "".join(api.output)
        code, found = status(api.url, key)
        assert code == 1
        assert found == {
            "status": "degraded",
            "mode": "production",
            "database": "ok",
            "queue": "ok",
            "workers": "none: 3 messages waiting for a worker",
            "pending": 3,
            "unacked": 0,
            "dead_letters": 0,
        }

        with evana_worker(env):
            wait_until(lambda: len(stored_ids(pg_fresh_url)) == 30, 30, "the backlog written")
            wait_until(
                lambda: httpx.get(f"{api.url}/readyz", timeout=10).json()["workers"] == "ok",
                20,
                "the worker seen",
            )
            assert httpx.get(f"{api.url}/readyz", timeout=10).json() == {
                "status": "ready",
                "database": "ok",
                "queue": "ok",
                "workers": "ok",
                "pending": 0,
            }
            assert metric(httpx.get(f"{api.url}/metrics").text, "evana_workers_consuming") == 1
            code, found = status(api.url, key)
            assert (code, found["workers"], found["pending"]) == (0, "ok", 0)
            assert "msg=readiness status=ready" in "".join(api.output)


def test_a_worker_consumes_while_it_has_a_fetch_open_or_has_just_taken_messages() -> None:
    import datetime as dt

    from evana.server._queue import Backlog

    now = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
    ago = lambda seconds: now - dt.timedelta(seconds=seconds)  # noqa: E731
    assert Backlog(5, 0, 1, None, 0).consuming(now, 30)  # idle worker: a fetch open
    assert Backlog(5, 40, 0, ago(3), 0).consuming(now, 30)  # busy writing what it took
    assert not Backlog(5, 40, 0, ago(60), 0).consuming(now, 30)  # took them, then died
    assert not Backlog(5, 0, 0, None, 0).consuming(now, 30)  # never any worker
