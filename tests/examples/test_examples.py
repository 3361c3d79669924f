"""Every script in examples/ runs against a real embedded server, and does what it says."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import evana
from tests import reference
from tests._evana import ServerProcess, evana_serve
from tests._services import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CSV = EXAMPLES / "data" / "events.csv"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """``evana serve`` on an empty database, with the admin key it printed."""
    with evana_serve(tmp_path) as running:
        assert running.admin_key
        yield running


def env_for(server: ServerProcess) -> dict[str, str]:
    assert server.admin_key is not None
    return {**os.environ, "EVANA_URL": server.url, "EVANA_API_KEY": server.admin_key}


def run_example(
    name: str, server: ServerProcess, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_for(server),
        cwd=cwd,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def client_for(server: ServerProcess) -> evana.Client:
    return evana.Client(server.url, server.admin_key)


def test_quickstart_counts_three_users_today(server: ServerProcess) -> None:
    out = run_example("quickstart.py", server).stdout.splitlines()
    today = dt.datetime.now(dt.UTC).date()
    assert out == [
        f"DAU on {today}: 3",
        "signup: 3 events by 3 users",
        "purchase: 1 events by 1 users",
    ]


def test_async_app_delivers_fifty_jobs_of_five_users(server: ServerProcess) -> None:
    out = run_example("async_app.py", server).stdout.splitlines()
    assert out == ["job_done: 50 events by 5 users", "client: 50 delivered, 0 failed"]
    with client_for(server) as client:
        top = client.stats.top_events(since="today")
    assert [(e.event, e.count, e.users) for e in top.events] == [("job_done", 50, 5)]


@contextlib.contextmanager
def fastapi_service(server: ServerProcess) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "fastapi_app.py"), "--port", str(port)],
        env=env_for(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Wait on the socket, not with a request: every request would be tracked.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        # SIGTERM: uvicorn shuts down gracefully, the lifespan closes the client, which sends.
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        # uvicorn re-raises the signal once it has shut down, so -SIGTERM is a clean exit too.
        assert proc.returncode in (0, -signal.SIGTERM), output
        assert "Application shutdown complete" in output, output


def test_fastapi_app_tracks_each_request_through_its_middleware(server: ServerProcess) -> None:
    with fastapi_service(server) as service:
        for user, item in [("u_1", 1), ("u_2", 2), ("u_1", 3), ("u_3", 4)]:
            answer = httpx.get(f"{service}/items/{item}", headers={"X-User-Id": user})
            assert answer.json() == {"item_id": item}
        assert httpx.get(f"{service}/missing").status_code == 404  # tracked as "anonymous"
    with client_for(server) as client:
        top = client.stats.top_events(since="today")
    assert [(e.event, e.count, e.users) for e in top.events] == [("http_request", 5, 4)]


def csv_events() -> list[reference.Ev]:
    with CSV.open(newline="") as file:
        return [
            reference.Ev(row["event"], row["user_id"], dt.datetime.fromisoformat(row["timestamp"]))
            for row in csv.DictReader(file)
            if row["user_id"]  # the one row without a user is rejected by the server
        ]


def test_backfill_is_idempotent_and_retention_report_prints_the_reference(
    server: ServerProcess,
) -> None:
    events = csv_events()
    rows = len(events) + 1
    for _ in range(2):  # the second import changes nothing
        out = run_example("backfill.py", server, str(CSV)).stdout.splitlines()
        assert out == [
            "line 43: rejected: user_id: String should have at least 1 character",
            f"events.csv: {rows} rows, {rows - 1} accepted, 1 rejected",
        ]
    since, until = dt.date(2026, 9, 7), dt.date(2026, 10, 4)
    with client_for(server) as client:
        top = client.stats.top_events(since=since, until=until)
    assert top.model_dump(mode="json") == reference.top(events, since, until, 10)

    args = ["--since", str(since), "--until", str(until), "--period", "week", "--periods", "4"]
    out = run_example("retention_report.py", server, *args).stdout.splitlines()
    expected = reference.retention(events, since, until, "week", 4)
    assert out[0] == f"weekly retention, {since} to {until}"
    assert out[1].split() == ["cohort", "users", "+0", "+1", "+2", "+3"]
    assert len(out) == 2 + len(expected["cohorts"])
    for line, cohort in zip(out[2:], expected["cohorts"], strict=True):
        rates = [f"{n / cohort['size'] * 100:.0f}%" for n in cohort["retained"] if n is not None]
        assert line.split() == [cohort["cohort"], str(cohort["size"]), *rates]
