"""Workers sharing a host: each takes the first free metrics port of a range, no hand-tuning."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from evana.server import Settings
from tests._evana import EVANA, run_evana
from tests.server._pipeline import WorkerProcess, wait_until


@pytest.mark.parametrize(
    ("given", "stored"),
    [("9464-9479", "9464-9479"), (" 9000 - 9002 ", "9000-9002"), ("9464", "9464"), (0, "0")],
)
def test_the_metrics_port_is_a_port_a_range_or_0(given: object, stored: str) -> None:
    assert Settings(metrics_port=given).metrics_port == stored


def test_the_default_is_a_range_starting_at_9464() -> None:
    assert Settings().metrics_port == "9464-9479"


@pytest.mark.parametrize("given", ["abc", "9466-9464", "70000", "0-10", "9464,9465"])
def test_a_metrics_port_that_is_no_port_or_range_is_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="metrics_port"):
        Settings(metrics_port=given)


def test_a_bad_metrics_port_flag_is_one_usage_error(tmp_path: Path) -> None:
    result = run_evana("worker", "--metrics-port", "9466-9464", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "--metrics-port" in result.stderr
    assert "Traceback" not in result.stderr


@contextlib.contextmanager
def worker(env: Mapping[str, str], *args: str) -> Iterator[WorkerProcess]:
    """``evana worker ARGS`` as an operator starts it (no --metrics-port unless in ARGS)."""
    environ = {k: v for k, v in os.environ.items() if k != "EVANA_METRICS_PORT"}
    proc = subprocess.Popen(
        [EVANA, "worker", "--log-level", "info", *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**environ, **env},
    )
    started = WorkerProcess(proc, 0)
    assert proc.stdout is not None
    stdout = proc.stdout
    thread = threading.Thread(target=lambda: started.output.extend(stdout), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: "msg=worker_started" in started.log() or proc.poll() is not None,
            30,
            "the worker to start",
        )
        assert proc.poll() is None, started.log()
        match = re.search(r"metrics_port=(\d+)", started.log())
        assert match, started.log()
        started.metrics_port = int(match.group(1))
        yield started
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        thread.join(10)
        stdout.close()


@pytest.fixture
def env(pg_url: str, nats_url: str, nats_prefix: str) -> dict[str, str]:
    return {
        "EVANA_DATABASE_URL": pg_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
    }


@pytest.mark.integration
def test_two_workers_on_one_host_with_defaults_each_serve_their_metrics(
    env: dict[str, str],
) -> None:
    with worker(env) as first, worker(env) as second:
        ports = {first.metrics_port, second.metrics_port}
        assert len(ports) == 2, (first.log(), second.log())
        assert ports <= set(range(9464, 9480))
        for started in (first, second):
            assert started.metric("evana_events_inserted_total") == 0
            assert started.proc.poll() is None


@pytest.mark.integration
def test_workers_take_the_free_ports_of_a_range_in_order(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        span = f"{busy}-{busy + 2}"
        # Ports just above a free one are almost always free too; skip if not.
        for port in (busy + 1, busy + 2):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    pytest.skip(f"port {port} is in use here")
        with (
            worker(env, "--metrics-port", span) as first,
            worker(env, "--metrics-port", span) as second,
        ):
            assert (first.metrics_port, second.metrics_port) == (busy + 1, busy + 2)
            httpx.get(
                f"http://127.0.0.1:{second.metrics_port}/metrics", timeout=5
            ).raise_for_status()
            # The range is full now: a third worker says so in one line and exits 1.
            result = run_evana("worker", "--metrics-port", span, env=env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("evana: error:")]
    assert errors == [
        f"evana: error: cannot serve metrics: every port of {span} is in use"
        " (pass a wider --metrics-port range, or 0 for none)"
    ], result.stderr


@pytest.mark.integration
def test_metrics_port_0_serves_none(env: dict[str, str]) -> None:
    with worker({**env, "EVANA_METRICS_PORT": "0"}) as started:
        assert started.metrics_port == 0  # and no metrics server started


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


@pytest.mark.integration
def test_processes_2_runs_two_workers_and_sigterm_stops_both(env: dict[str, str]) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "EVANA_METRICS_PORT"}
    proc = subprocess.Popen(
        [EVANA, "worker", "--processes", "2", "--log-level", "info"],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**environ, **env},
    )
    out: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    thread = threading.Thread(target=lambda: out.extend(stdout), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: "".join(out).count("msg=worker_started") == 2 or proc.poll() is not None,
            60,
            "two workers to start",
        )
        log = "".join(out)
        assert proc.poll() is None, log
        children = _children(proc.pid)
        assert len(children) == 2, log
        ports = {int(port) for port in re.findall(r"metrics_port=(\d+)", log)}
        assert len(ports) == 2, log  # each process serves its own port of the range
        assert ports <= set(range(9464, 9480))
        for port in ports:
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).raise_for_status()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, "".join(out)
        thread.join(10)
        assert "".join(out).count("msg=worker_stopped") == 2
        for child in children:  # both gone (reaped by the supervisor)
            assert not os.path.exists(f"/proc/{child}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        thread.join(10)
        stdout.close()


@pytest.mark.integration
def test_processes_stop_together_when_one_fails(env: dict[str, str]) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "EVANA_METRICS_PORT"}
    proc = subprocess.Popen(
        [EVANA, "worker", "--processes", "2", "--log-level", "info"],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**environ, **env},
    )
    out: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    thread = threading.Thread(target=lambda: out.extend(stdout), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: "".join(out).count("msg=worker_started") == 2 or proc.poll() is not None,
            60,
            "two workers to start",
        )
        first, second = _children(proc.pid)
        os.kill(first, signal.SIGKILL)
        assert proc.wait(60) == 1  # a worker killed: the command fails, the other stopped
        assert not os.path.exists(f"/proc/{second}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        thread.join(10)
        stdout.close()


def test_a_metrics_range_narrower_than_the_processes_is_refused(tmp_path: Path) -> None:
    result = run_evana("worker", "--processes", "3", "--metrics-port", "9000-9001", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "fewer than --processes 3" in result.stderr
