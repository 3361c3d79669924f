"""The benchmark programs run at a small size, so they cannot rot (no timing is asserted).

Each writes its JSON to a temporary path; what is checked is what must hold at any size:
evana's answers equal the comparison's, and nothing is lost or counted twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests._services import temporary_database

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Services:
    """The run's PostgreSQL and NATS (the machine's or throwaway ones), as the benchmark
    programs read them, and a database of the test's own."""

    env: dict[str, str]
    database: str


@pytest.fixture
def services(pg_server: str, nats_url: str) -> Iterator[Services]:
    with temporary_database(pg_server) as url:
        env = {"EVANA_BENCH_PG": pg_server, "EVANA_BENCH_NATS": nats_url}
        yield Services(env, url.rsplit("/", 1)[1])


def run(module: str, out: Path, *args: str, services: Services | None = None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if services:
        env |= services.env
        args = (*args, "--database", services.database)
    result = subprocess.run(
        [sys.executable, "-m", module, "--json", str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(out.read_text())  # type: ignore[no-any-return]


@pytest.mark.integration
def test_queries_small(tmp_path: Path, services: Services) -> None:
    data = run(
        "bench.queries",
        tmp_path / "q.json",
        "--events",
        "30000",
        "--users",
        "1500",
        "--repeat",
        "2",
        services=services,
    )
    assert {row["mode"] for row in data["reports"]} == {"postgresql", "sqlite"}
    assert len(data["reports"]) == 36  # 18 reports (10 over recent days, 8 over all) a mode
    assert all(row["identical"] for row in data["reports"])


@pytest.mark.integration
def test_insights_small(tmp_path: Path, services: Services) -> None:
    data = run(
        "bench.insights",
        tmp_path / "in.json",
        "--events",
        "20000",
        "--users",
        "1000",
        "--repeat",
        "2",
        services=services,
    )
    assert {row["mode"] for row in data["insights"]} == {"postgresql", "sqlite"}
    assert len(data["insights"]) == 22
    assert all(row["identical"] for row in data["insights"])
    # The least a call through the API takes, measured once per server, beside every insight.
    for mode in ("postgresql", "sqlite"):
        floors = {row["floor_ms"] for row in data["insights"] if row["mode"] == mode}
        assert len(floors) == 1
        assert floors.pop() > 0
    assert all(row["healthz_ms"] > 0 for row in data["insights"])
    assert data["storage"]["postgresql"]["events_table_bytes"] > 0
    assert data["storage"]["postgresql"]["rollups_bytes"] > 0
    assert data["storage"]["postgresql"]["property_rollups_bytes"] > 0


@pytest.mark.integration
def test_ingest_small(tmp_path: Path, services: Services) -> None:
    data = run(
        "bench.ingest",
        tmp_path / "i.json",
        "--events",
        "30000",
        "--users",
        "1500",
        "--row-sample",
        "200",
        services=services,
    )
    assert data["evana"]["exact"]
    assert data["evana"]["accepted"] == 30000
    assert data["posthog"]["exact"]
    assert data["posthog"]["accepted"] == 30000
    # PostgreSQL's CPU comes apart: its sessions, and its checkpoints, WAL and autovacuum.
    cpu = data["evana"]["cpu_us_per_event"]
    assert cpu["postgresql"] > 0
    assert cpu["postgresql (checkpoints, WAL)"] >= 0
    assert data["raw_copy_events_per_second"] > 0
    assert data["row_by_row_events_per_second"] > 0


@pytest.mark.integration
def test_ingest_properties_small(tmp_path: Path, services: Services) -> None:
    data = run(
        "bench.ingest",
        tmp_path / "p.json",
        "--properties",
        "--events",
        "20000",
        "--users",
        "1000",
        services=services,
    )
    for side in ("untracked", "tracked"):
        assert data[side]["exact"]
        assert data[side]["accepted"] == 20000
    assert data["untracked"]["property_rollup_rows"] == 0
    assert data["tracked"]["tracked_ready"] == ["country", "plan"]
    assert data["tracked"]["property_rollup_rows"] > 0


@pytest.mark.integration
def test_soak_small(tmp_path: Path, services: Services) -> None:
    data = run(
        "bench.soak",
        tmp_path / "s.json",
        "--minutes",
        "0.15",
        "--calibrate",
        "3",
        "--sample",
        "2",
        "--warmup",
        "2",
        "--users",
        "5000",
        services=services,
    )
    assert data["lost"] == 0
    assert data["extra_counted"] == 0
    assert data["ingest_errors"] == 0
    assert data["read_errors"] == 0
    assert data["samples"]
    assert data["accepted"] > 0


def test_ingest_cli_small(tmp_path: Path) -> None:
    data = run("bench.ingest_cli", tmp_path / "c.json", "--events", "20000")
    assert data, "the program wrote its figures"


@pytest.mark.integration
def test_persons_small(tmp_path: Path, services: Services) -> None:
    data = run(
        "bench.persons",
        tmp_path / "p.json",
        "--events",
        "20000",
        "--users",
        "1000",
        "--repeat",
        "2",
        services=services,
    )
    assert data["links"] > 0
    assert data["merge_1000_days_ms"] > 0
    assert set(data["reports_with_ms"]) == set(data["reports_without_ms"])


@pytest.mark.integration
def test_scaling_small(tmp_path: Path, services: Services) -> None:
    data = run(
        "bench.scaling",
        tmp_path / "sc.json",
        "--events",
        "20000",
        "--users",
        "1500",
        "--configs",
        "1x1,2x2",
        "--repeat",
        "2",
        services=services,
    )
    assert [(r["order"], r["apis"], r["workers"]) for r in data["runs"]] == [
        ("time", 1, 1),
        ("time", 2, 2),
        ("shuffled", 1, 1),
        ("shuffled", 2, 2),
    ]
    assert all(r["exact"] and r["accepted"] == 20000 for r in data["runs"])
    assert all(r["raw_copy_events_per_second"] > 0 for r in data["runs"])
    assert [c["rows_per_key"] for c in data["report_cost"]] == [1, 8, 32]


@pytest.mark.integration
def test_growth_small(tmp_path: Path, services: Services) -> None:
    small = ("--events", "20000", "--users", "1000", "--repeat", "2", "--skip-sqlite")
    run("bench.insights", tmp_path / "in.json", *small, services=services)
    copy = f"{services.database}_base"
    try:
        data = run(
            "bench.growth",
            tmp_path / "g.json",
            *("--base-events", "20000", "--base-users", "1000", "--stages", "19980"),
            *("--repeat", "2", "--ingest-events", "3000", "--workers", "1"),
            *("--base-copy", copy, "--partition"),
            services=services,
        )
        # Partitioned by month from the start: older history found its months' partitions.
        grown = services.env["EVANA_BENCH_PG"].replace("+psycopg", "") + f"/{services.database}"
        with psycopg.connect(grown) as conn:
            assert conn.execute("SELECT count(*) FROM events_other").fetchone() == (0,)
        # Measured again later, by the same program, without loading anything.
        again = run(
            "bench.growth",
            tmp_path / "again.json",
            *("--base-events", "20000", "--base-users", "1000", "--stages", "19980"),
            *("--repeat", "2", "--ingest-events", "3000", "--workers", "1"),
            *("--base-copy", copy, "--compare-only"),
            services=services,
        )["same_run"]
    finally:
        admin = services.env["EVANA_BENCH_PG"].replace("+psycopg", "") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    # Two 45-day chunks added by two loaders side by side, and the end-to-end events (days of
    # their own) at the first size.
    assert [s["events"] for s in data["stages"]] == [20000, 20000 + 3000 + 19980]
    assert data["stages"][1]["ingest_events_per_second"] > 0
    assert all(s["end_to_end"]["exact"] for s in data["stages"])
    rows = [row for stage in data["results"] for row in stage["rows"]]
    assert len(rows) == 2 * 16  # 11 insights and 5 reports, at each size
    assert all(row["identical_to_first"] for row in rows)
    # The copy of the first size and the grown one, again in one run, with the same answers.
    same = data["same_run"]
    assert same["events"] == [20000, 20000 + 3000 + 19980 + 3000]
    assert len(same["rows"]) == 16
    assert all(row["identical"] for row in same["rows"])
    # Two rounds each, in turn (copy, grown, grown, copy), the same new events in a round.
    assert all(len(runs) == 2 for row in same["rows"] for runs in row["rounds_ms"])
    assert [[run["exact"] for run in runs] for runs in same["end_to_end"]] == [[True, True]] * 2
    assert [s["partitioned"] for s in data["stages"]] == [True, True]
    assert same["partitioned"] == [True, True]
    # New end-to-end days for each round, so each holds 6000 events more; nothing to migrate.
    assert again["events"] == [n + 6000 for n in same["events"]]
    assert len(again["migration_seconds"]) == 2
    assert all(row["identical"] for row in again["rows"])
    assert [[run["exact"] for run in runs] for runs in again["end_to_end"]] == [[True, True]] * 2
