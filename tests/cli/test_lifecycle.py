"""How ``evana serve`` and ``evana worker`` start and stop, as real processes: a stop asked by
SIGTERM or Ctrl-C drains and exits 0; a port that is taken is one ``evana: error:`` line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._evana import EVANA, evana_serve, run_evana
from tests.server._pipeline import evana_worker, wait_until

EVENT = {"event": "signup", "user_id": "u1", "timestamp": "2026-11-02T10:00:00Z"}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_drains_and_exits_0_on_a_stop(tmp_path: Path, signum: signal.Signals) -> None:
    """Before: -15 on SIGTERM (uvicorn raised the signal again after draining)."""
    with evana_serve(tmp_path) as server:
        assert server.admin_key
        headers = {"X-API-Key": server.admin_key}
        accepted = httpx.post(f"{server.url}/v1/events", json={"events": [EVENT]}, headers=headers)
        assert accepted.status_code == 202
        server.proc.send_signal(signum)
        assert server.proc.wait(20) == 0
    output = "".join(server.output)
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
    # What was accepted is there after a restart.
    with evana_serve(tmp_path) as again:
        key = {"X-API-Key": server.admin_key}
        dau = httpx.get(f"{again.url}/v1/stats/dau?since=2026-11-02&until=2026-11-02", headers=key)
        assert dau.json()["series"] == [{"date": "2026-11-02", "users": 1}]


def test_serve_on_a_busy_port_is_one_error_line(tmp_path: Path, busy_port: int) -> None:
    """Before: uvicorn's error lines after startup, exit 3, and a first admin key printed
    (and stored) for a server that never ran."""
    result = run_evana(
        "serve", "--port", str(busy_port), cwd=tmp_path, env={"EVANA_API_KEY": ""}, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"evana: error: cannot listen on 127.0.0.1:{busy_port}: another process is listening"
        " there (stop it, or pass --port)"
    ]
    assert "admin key" not in result.stdout
    assert not (tmp_path / "evana.db").exists()


@pytest.mark.integration
def test_worker_exits_0_on_ctrl_c(pg_url: str, nats_url: str, nats_prefix: str) -> None:
    env = {
        "EVANA_DATABASE_URL": pg_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
    }
    with evana_worker(env) as worker:
        worker.proc.send_signal(signal.SIGINT)
        assert worker.proc.wait(20) == 0
        wait_until(lambda: "msg=worker_stopped" in worker.log(), 10, "the worker's last line")


@pytest.mark.integration
def test_worker_on_a_busy_metrics_port_is_one_error_line(
    pg_url: str, nats_url: str, nats_prefix: str, busy_port: int
) -> None:
    env = {
        **os.environ,
        "EVANA_DATABASE_URL": pg_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
    }
    result = subprocess.run(
        [EVANA, "worker", "--metrics-port", str(busy_port)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("evana: error:")]
    assert errors == [
        f"evana: error: cannot serve metrics on port {busy_port}: Address already in use"
        " (pass another --metrics-port, or 0 for none)"
    ], result.stderr
    assert "Traceback" not in result.stderr
