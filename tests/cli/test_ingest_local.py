"""``evana ingest --database-url``: the same stored events and rejects as through the API."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evana.schema import derive_event_id
from tests._evana import EVANA, evana_serve, run_evana

from .conftest import event, invoke

DAY = dt.date(2003, 3, 3)


def tricky_lines() -> list[str]:
    """Valid lines of every shape the judge decides (fast path and Event's), invalid ones,
    duplicates, and a line without an event_id."""
    noon = dt.datetime.combine(DAY, dt.time(12), dt.UTC)
    explicit = str(derive_event_id("x", "y"))
    return [
        event("view", "u1", DAY),  # no event_id: derived from the content
        event("view", "u2", DAY, event_id=explicit.upper()),  # upper-case id kept
        "{not json",
        json.dumps({"event": "view", "user_id": ""}),  # invalid: empty user
        "",
        event("view", "u1", DAY),  # the first line again: a duplicate
        json.dumps(  # an offset, nested properties, numbers of every kind, unicode
            {
                "event": "buy",
                "user_id": "ü-3",
                "timestamp": "2003-03-03T14:00:00.5+02:00",
                "properties": {"n": 1e15, "i": 2**70, "s": "é\u2028", "deep": {"a": [1, {"b": 2}]}},
            }
        ),
        json.dumps({"event": "open", "user_id": "u4", "timestamp": "2003-03-03T09:00:00"}),  # naive
        json.dumps({"event": "open", "user_id": "u5", "timestamp": "2003-03-03"}),  # a date
        json.dumps({"event": "open", "user_id": "u6", "timestamp": "2999-01-01T00:00:00Z"}),
        json.dumps({"event": "open", "user_id": "u7", "properties": {"nul": "a\u0000b"}}),
        json.dumps({"event": "open", "user_id": "u8", "extra": 1}),  # unknown field
        json.dumps(
            {
                "event": "big",
                "user_id": "u9",
                "timestamp": "2003-03-03T01:00:00Z",
                "properties": {"pad": "x" * 9000},
            }
        ),
        json.dumps(
            {
                "event": "$identify",
                "user_id": "u10",
                "timestamp": "2003-03-03T02:00:00Z",
                "properties": {"$anon_distinct_id": "a"},
            }
        ),
        json.dumps(
            {"event": "view", "user_id": "u11", "timestamp": noon.isoformat(), "event_id": 7}
        ),
    ]


def stored(database: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every stored event but its receive time, and the rollups' totals per day and event."""
    with sqlite3.connect(database) as con:
        events = con.execute(
            "SELECT event_id, event, user_id, timestamp, properties FROM events ORDER BY event_id"
        ).fetchall()
        rollups = con.execute(
            "SELECT day, event, sum(events) FROM rollups GROUP BY day, event ORDER BY day, event"
        ).fetchall()
    return events, rollups


def migrated(tmp_path: Path, name: str) -> tuple[Path, str]:
    database = tmp_path / name
    url = f"sqlite:///{database}"
    done = run_evana("db", "upgrade", "--database-url", url)
    assert done.returncode == 0, done.stderr
    return database, url


def summary(result: Any) -> dict[str, Any]:
    figures: dict[str, Any] = json.loads(result.stdout)
    return {k: figures[k] for k in ("read", "accepted", "rejected", "duplicates")}


def test_the_local_path_stores_and_rejects_exactly_what_the_api_path_does(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(tricky_lines()) + "\n")
    local_db, url = migrated(tmp_path, "local.db")
    served_dir = tmp_path / "served"
    served_dir.mkdir()
    with evana_serve(served_dir) as server:
        assert server.admin_key
        args = ["ingest", str(path), "--format", "json", "--rejects"]
        api = invoke(
            runner,
            [*args, str(tmp_path / "api.rejects"), "--url", server.url],
            env={"EVANA_API_KEY": server.admin_key},
        )
        local = invoke(runner, [*args, str(tmp_path / "local.rejects"), "--database-url", url])
        api_db = served_dir / "evana.db"
        assert api.exit_code == local.exit_code == 1, (api.output, local.output)
        assert summary(api) == summary(local)
        assert summary(local)["duplicates"] == 1
        api_rejects = (tmp_path / "api.rejects").read_text()
        assert api_rejects == (tmp_path / "local.rejects").read_text()
        assert len(api_rejects.splitlines()) == summary(local)["rejected"] >= 6

        # Events without a timestamp are stamped when received: compare all else of those.
        def comparable(database: Path) -> Any:
            events, rollups = stored(database)
            return [row if row[1] != "open" else row[:3] + row[4:] for row in events], rollups

        # The served database is read after the server wrote its batches (a 202 is durable).
        assert comparable(api_db) == comparable(local_db)
        assert len(stored(local_db)[0]) == summary(local)["accepted"]

        # Twice changes nothing, and the local path into the served database (the server
        # running on it) finds every event already there.
        again = invoke(runner, [*args, str(tmp_path / "again.rejects"), "--database-url", url])
        assert summary(again) == summary(local)
        assert comparable(local_db) == comparable(api_db)
        before = stored(api_db)
        beside = invoke(
            runner,
            [*args, str(tmp_path / "beside.rejects"), "--database-url", f"sqlite:///{api_db}"],
        )
        assert summary(beside) == summary(api)
        assert stored(api_db) == before


def test_a_line_without_an_id_ingested_twice_is_one_event(
    runner: CliRunner, tmp_path: Path
) -> None:
    database, url = migrated(tmp_path, "evana.db")
    path = tmp_path / "bare.jsonl"
    path.write_text(event("open", "u9", DAY, plan="pro") + "\n")
    for _ in range(2):
        result = invoke(runner, ["ingest", str(path), "--database-url", url])
        assert result.exit_code == 0, result.output
    events, rollups = stored(database)
    assert [row[1:3] for row in events] == [("open", "u9")]
    assert rollups == [(str(DAY), "", 1), (str(DAY), "open", 1)]  # "": any event


def test_refuses_a_missing_or_unmigrated_database_and_a_url_too(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(event("open", "u1", DAY) + "\n")
    missing = tmp_path / "nope.db"
    result = invoke(runner, ["ingest", str(path), "--database-url", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert "no evana database at" in result.stderr
    assert not missing.exists()
    sqlite3.connect(tmp_path / "empty.db").close()
    result = invoke(
        runner, ["ingest", str(path), "--database-url", f"sqlite:///{tmp_path}/empty.db"]
    )
    assert result.exit_code == 1
    assert "evana db upgrade" in result.stderr
    result = invoke(
        runner, ["ingest", str(path), "--database-url", "sqlite://", "--url", "http://x"]
    )
    assert result.exit_code == 2
    assert "drop --url/--api-key" in result.stderr


def _peak_rss_mib(args: list[str]) -> float:
    """Peak RSS of ``evana ARGS`` run by a small parent (a big parent's pages would count)."""
    script = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "assert done.returncode == 0, done.stderr\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, EVANA, *args],
        capture_output=True,
        text=True,
        env=os.environ,
        check=True,
        timeout=300,
    )
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux's")
def test_memory_stays_flat_whatever_the_file_size(tmp_path: Path) -> None:
    # Above the duplicate window (100,000 ids), memory must not grow with the file: compare a
    # file with one with three times its lines.
    sizes = {}
    start = dt.datetime(2003, 3, 1, tzinfo=dt.UTC)
    for lines in (110_000, 330_000):
        path = tmp_path / f"{lines}.jsonl"
        with path.open("w") as out:
            for n in range(lines):
                stamp = (start + dt.timedelta(seconds=7 * n)).isoformat()
                out.write(
                    f'{{"event_id": "{uuid.UUID(int=n + 1)}", "event": "e{n % 40}",'
                    f' "user_id": "user_{n % 5000}", "timestamp": "{stamp}"}}\n'
                )
        _, url = migrated(tmp_path, f"{lines}.db")
        sizes[lines] = _peak_rss_mib(
            ["ingest", str(path), "--database-url", url, "--no-progress", "--format", "json"]
        )
    # Holding the extra 220,000 lines would take well over 100 MiB; the allocator and SQLite's
    # caches may still settle by a few MiB.
    assert sizes[330_000] - sizes[110_000] < 40, sizes


def _ids_names_users(url: str) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    from evana.server._storage import Database
    from evana.server._storage._tables import events

    db = Database(url)
    try:
        with db.read() as conn:
            query = select(events.c.event_id, events.c.event, events.c.user_id, events.c.timestamp)
            return sorted(tuple(row) for row in conn.execute(query))
    finally:
        db.dispose()


@pytest.mark.integration
def test_postgresql_takes_the_same_backfill_as_sqlite(
    runner: CliRunner, tmp_path: Path, pg_fresh_url: str
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(tricky_lines()) + "\n")  # every valid line has a timestamp
    _, sqlite_url = migrated(tmp_path, "evana.db")
    assert run_evana("db", "upgrade", "--database-url", pg_fresh_url).returncode == 0
    results = {}
    for name, url in (("sqlite", sqlite_url), ("pg", pg_fresh_url)):
        rejects = tmp_path / f"{name}.rejects"
        args = ["ingest", str(path), "--format", "json", "--rejects", str(rejects)]
        results[name] = invoke(runner, [*args, "--database-url", url])
    assert summary(results["sqlite"]) == summary(results["pg"])
    assert (tmp_path / "sqlite.rejects").read_text() == (tmp_path / "pg.rejects").read_text()
    stored_pg = _ids_names_users(pg_fresh_url)
    assert stored_pg == _ids_names_users(sqlite_url)
    assert len(stored_pg) == summary(results["pg"])["accepted"]
