"""``evana demo``: a realistic data set, ingested into a running or a temporary server, reported."""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
import json
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evana.cli._demo_data import EVENT_NAMES, demo_lines
from tests import reference
from tests._evana import evana_serve, run_evana
from tests._services import free_port
from tests.server._pipeline import evana_worker

from .conftest import Served, invoke, reference_events

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def test_the_data_set_is_deterministic_and_shaped_like_a_product() -> None:
    lines = list(demo_lines(users=400, days=28, seed=5, last_day=dt.date(2026, 6, 30)))
    assert lines == list(demo_lines(400, 28, 5, dt.date(2026, 6, 30)))
    assert lines != list(demo_lines(400, 28, 6, dt.date(2026, 6, 30)))
    events = [json.loads(line) for line in lines]
    assert len({e["event_id"] for e in events}) == len(events)
    assert {e["timestamp"][:10] for e in events} <= {
        str(dt.date(2026, 6, 3) + dt.timedelta(days=n)) for n in range(28)
    }
    names = collections.Counter(e["event"] for e in events if e["event"] != "signup")
    ranked = [name for name, _ in names.most_common()]
    assert ranked[:3] == EVENT_NAMES[:3]  # Zipf: the first names dominate
    assert names[EVENT_NAMES[0]] > 5 * names[EVENT_NAMES[-1]]
    first_day = {}
    for e in events:
        first_day.setdefault(e["user_id"], e["timestamp"][:10])
        assert e["event"] != "signup" or e["timestamp"][:10] == first_day[e["user_id"]]
    cohorts = reference.retention(
        reference_events(lines), dt.date(2026, 6, 3), dt.date(2026, 6, 30), "day", 15
    )["cohorts"]
    size = sum(c["size"] for c in cohorts[:10])
    back = [sum(c["retained"][k] for c in cohorts[:10]) / size for k in (1, 7, 14)]
    assert 0.9 > back[0] > back[1] >= back[2] > 0.02  # retention decays, never to nothing


def test_embedded_demo_reports_exactly_what_it_generated(runner: CliRunner) -> None:
    result = invoke(
        runner,
        ["demo", "--embedded", "--users", "300", "--days", "14", "--seed", "3", "-f", "json"],
    )
    assert result.exit_code == 0, result.output
    assert "temporary embedded server" not in result.stderr  # asked for: no explanation needed
    printed = json.loads(result.stdout)
    lines = list(demo_lines(300, 14, 3, YESTERDAY))
    events = reference_events(lines)
    first = YESTERDAY - dt.timedelta(days=13)
    assert printed["ingest"]["read"] == printed["ingest"]["accepted"] == len(lines)
    assert printed["ingest"]["rejected"] == printed["ingest"]["duplicates"] == 0
    assert printed["dau"] == reference.active(events, first, YESTERDAY, 1)
    assert printed["top"] == reference.top(events, first, YESTERDAY, 10)
    monday = first - dt.timedelta(days=first.weekday())
    assert printed["retention"] == reference.retention(events, monday, YESTERDAY, "week", 6)


def test_demo_into_a_running_server_twice_counts_nothing_twice(
    runner: CliRunner, served: Served
) -> None:
    env = {"EVANA_URL": served.url, "EVANA_API_KEY": served.admin}
    args = ["demo", "--users", "120", "--days", "7", "--seed", "11", "-f", "json"]
    first = invoke(runner, args, env=env)
    assert first.exit_code == 0, first.output
    assert f"Sending the demo events to {served.url}." in first.stderr
    second = json.loads(invoke(runner, args, env=env).stdout)
    printed = json.loads(first.stdout)
    assert second["ingest"]["accepted"] == printed["ingest"]["accepted"] > 0
    assert {k: second[k] for k in ("dau", "top", "retention")} == {
        k: printed[k] for k in ("dau", "top", "retention")
    }


def test_the_table_output_shows_every_report(runner: CliRunner) -> None:
    result = invoke(runner, ["demo", "--users", "50", "--days", "10"])
    assert result.exit_code == 0, result.output
    assert "No API key is set: starting a temporary embedded server." in result.stderr
    for heading in ("Ingested demo (50 users, 10 days)", "Daily active users", "Top events"):
        assert heading in result.stdout
    assert "Retention by week" in result.stdout


def test_no_server_answering_means_a_temporary_one(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"EVANA_URL": url, "EVANA_API_KEY": "evana_000000000000_any"}
    result = invoke(runner, ["demo", "--users", "20", "--days", "3", "-f", "json"], env=env)
    assert result.exit_code == 0, result.output
    assert f"No server answers at {url}: starting a temporary embedded server." in result.stderr
    assert json.loads(result.stdout)["ingest"]["accepted"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "csv"], "evana demo prints several reports: use --format table or json"),
        (["--users", "0"], "Invalid value for '--users'"),
    ],
)
def test_demo_errors(runner: CliRunner, args: list[str], message: str) -> None:
    result = invoke(runner, ["demo", *args])
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_a_server_refusing_the_key_is_an_error_not_a_fallback(
    runner: CliRunner, served: Served
) -> None:
    env = {"EVANA_URL": served.url, "EVANA_API_KEY": served.read}
    result = invoke(runner, ["demo", "--users", "5", "--days", "2"], env=env)
    assert result.exit_code == 1
    assert "permission denied: this key has scope 'read'" in result.stderr


def _pipeline_env(db_url: str, nats_url: str, prefix: str) -> dict[str, str]:
    return {
        "EVANA_DATABASE_URL": db_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": prefix,
    }


@pytest.mark.integration
def test_production_demo_waits_for_the_worker_before_reporting(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    # The worker starts only after the demo has sent everything: before, the demo read its
    # reports at once and printed partial figures (here: zeros).
    env = _pipeline_env(pg_fresh_url, nats_url, nats_prefix)
    with evana_serve(tmp_path, env) as api:
        assert api.admin_key
        client_env = {"EVANA_URL": api.url, "EVANA_API_KEY": api.admin_key}
        args = ["demo", "--users", "150", "--days", "10", "--seed", "4", "-f", "json"]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            running = pool.submit(run_evana, *args, env=client_env, timeout=120)
            time.sleep(3)  # the demo is sending, or waiting: no worker yet
            with evana_worker(env):
                result = running.result(timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Waiting for the server to write the demo events (0 of" in result.stderr
    printed = json.loads(result.stdout)
    lines = list(demo_lines(150, 10, 4, YESTERDAY))
    events = reference_events(lines)
    first = YESTERDAY - dt.timedelta(days=9)
    assert printed["ingest"]["accepted"] == len(lines)
    assert printed["dau"] == reference.active(events, first, YESTERDAY, 1)
    assert printed["top"] == reference.top(events, first, YESTERDAY, 10)
    monday = first - dt.timedelta(days=first.weekday())
    assert printed["retention"] == reference.retention(events, monday, YESTERDAY, "week", 6)


@pytest.mark.integration
def test_production_demo_without_a_worker_says_so_within_its_wait(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    env = _pipeline_env(pg_fresh_url, nats_url, nats_prefix)
    with evana_serve(tmp_path, env) as api:
        assert api.admin_key
        client_env = {"EVANA_URL": api.url, "EVANA_API_KEY": api.admin_key}
        started = time.monotonic()
        result = run_evana(
            "demo", "--users", "20", "--days", "3", "--wait", "2", env=client_env, timeout=60
        )
        took = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""  # no partial figures
    last = result.stderr.strip().splitlines()[-1]
    assert re.match(r"evana: error: after 2 s the server counts 0 of the \d+ demo events", last)
    assert "`evana worker`" in last
    assert took < 30
