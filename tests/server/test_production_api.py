"""The API's production wiring and metrics, and the one-line failures of the new commands."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from fastapi.testclient import TestClient

from evana.errors import QueueUnavailableError
from evana.server import Settings, create_app
from evana.server._logging import LogfmtFormatter
from evana.server._metrics import Metrics
from evana.server._queue import Names
from tests._evana import run_evana
from tests._services import free_port
from tests.conftest import Api, make_api
from tests.server._pipeline import make_events, wire


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[Api]:
    apis = make_api(settings)
    try:
        yield next(apis)
    finally:
        apis.close()


def metric(body: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
    assert match, f"{name} missing"
    return float(match.group(1))


def test_metrics_count_what_the_api_accepted_rejected_and_wrote() -> None:
    for _ in range(2):  # two apps in one process: each has its own registry
        with running(Settings(database_url="sqlite://")) as api:
            events = [wire(e) for e in make_events(5)]
            answer = api.post_events([*events, {"event": "", "user_id": "u"}, events[0]])
            assert answer.status_code == 202
            body = api.client.get("/metrics")
        assert body.headers["content-type"].startswith("text/plain")
        text = body.text
        assert metric(text, "evana_events_accepted_total") == 6
        assert metric(text, "evana_events_rejected_total") == 1
        assert metric(text, "evana_events_inserted_total") == 5
        assert metric(text, "evana_events_duplicates_total") == 1
        assert metric(text, "evana_write_seconds_count") == 1


def test_separate_metrics_never_share_a_registry() -> None:
    one, two = Metrics(), Metrics()
    one.retries.inc()
    assert b"evana_retries_total 1.0" in one.render()
    assert b"evana_retries_total 0.0" in two.render()


@pytest.mark.integration
def test_in_production_mode_the_api_publishes_to_jetstream(nats_url: str, nats_prefix: str) -> None:
    settings = Settings(
        database_url="sqlite://", nats_url=nats_url, nats_subject_prefix=nats_prefix
    )
    with running(settings) as api:
        ready = api.client.get("/readyz").json()
        assert ready == {
            "status": "ready",
            "database": "ok",
            "queue": "ok",
            "workers": "none",
            "pending": 0,
        }
        assert api.post_events([wire(e) for e in make_events(4)]).json()["accepted"] == 4
        assert metric(api.client.get("/metrics").text, "evana_messages_published_total") == 1

    async def stored() -> int:
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().stream_info(Names.of(nats_prefix).stream)
        await nc.close()
        return info.state.messages

    assert asyncio.run(stored()) == 1  # nothing written by the API itself: that is the worker's


def test_an_api_whose_nats_does_not_answer_does_not_start() -> None:
    settings = Settings(
        database_url="sqlite://",
        nats_url=f"nats://127.0.0.1:{free_port()}",
        nats_connect_timeout_seconds=1,
    )
    with (
        pytest.raises(QueueUnavailableError, match="cannot reach NATS"),
        TestClient(create_app(settings)),
    ):
        pass


NOWHERE = {"EVANA_NATS_URL": "nats://127.0.0.1:1", "EVANA_NATS_CONNECT_TIMEOUT_SECONDS": "1"}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["worker"], {}, "evana worker needs NATS"),
        (["dlq", "list"], {}, "set EVANA_NATS_URL"),
        (["dlq", "replay"], NOWHERE, "one dead letter ID or --all"),
        (["dlq", "list"], NOWHERE, "cannot reach NATS"),
        (["serve"], NOWHERE, "cannot reach NATS"),
        (["worker", "--concurrency", "0"], NOWHERE, "--concurrency (EVANA_WORKER_CONCURRENCY)"),
    ],
)
def test_pipeline_commands_fail_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_evana(*args, env={"EVANA_NATS_URL": "", **env}, cwd=tmp_path)
    # A command called wrongly (a bad flag value, a missing argument) exits 2, a failure 1.
    usage = args in (["dlq", "replay"], ["worker", "--concurrency", "0"])
    assert result.returncode == (2 if usage else 1), result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.integration
def test_a_worker_whose_metrics_port_is_taken_says_so(
    tmp_path: Path, nats_url: str, nats_prefix: str
) -> None:
    env = {
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
        "EVANA_DATABASE_URL": f"sqlite:///{tmp_path}/evana.db",
    }
    # A worker never creates the database: make it first, as `evana serve` would have.
    assert run_evana("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_evana("worker", "--metrics-port", str(port), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot serve metrics on port {port}" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_log_lines_are_logfmt() -> None:
    import logging

    record = logging.makeLogRecord(
        {"name": "nats", "levelname": "WARNING", "msg": 'said "hi"\nthere', "created": 0}
    )
    assert LogfmtFormatter().format(record) == (
        'ts=1970-01-01T00:00:00.000Z level=warning logger=nats msg="said \\"hi\\"\\nthere"'
    )
