"""The installed ``evana`` command against a real ``evana serve``: ingest, re-ingest, every report.

One server and one file for the module: 3 weeks of the demo's synthetic product with bad lines,
lines without ids and a repeated line mixed in. Every report is checked in every format against
the API's own JSON and against the brute-force reference (tests/reference.py).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from evana.cli._demo_data import demo_lines
from tests import reference
from tests._evana import run_evana
from tests._services import free_port

from .conftest import Served, reference_events, serve_with_keys

FIRST, LAST = dt.date(2026, 3, 11), dt.date(2026, 3, 31)
#: Bad lines and where they go (1-based line numbers of the file); "" is blank, not a reject.
BAD = {
    3: "{not json",
    10: json.dumps({"event": "view", "user_id": "u", "colour": "red"}),
    11: "",
    40: json.dumps({"event": "view", "user_id": "u", "timestamp": 1774000000}),
    41: json.dumps({"event": "x" * 201, "user_id": "u"}),
}
REJECTED = [3, 10, 40, 41]
#: report: (API path, its extra parameters, the CLI's options for them)
REPORTS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "dau": ("dau", {}, []),
    "wau": ("wau", {}, []),
    "mau": ("mau", {}, []),
    "top": ("top-events", {"limit": "5"}, ["--limit", "5"]),
    "retention": (
        "retention",
        {"period": "week", "periods": "4", "start_event": "signup"},
        ["--period", "week", "--periods", "4", "--start-event", "signup"],
    ),
}


@dataclass
class Loaded:
    """The module's server, its file, and what the first ingest printed."""

    served: Served
    path: Path
    valid: list[str]
    first: Any

    def env(self, key: str | None = None) -> dict[str, str]:
        return {"EVANA_URL": self.served.url, "EVANA_API_KEY": key or self.served.ingest}

    def api(self, report: str) -> Any:
        path, params, _ = REPORTS[report]
        answer = httpx.get(
            f"{self.served.url}/v1/stats/{path}",
            params={"since": str(FIRST), "until": str(LAST), **params},
            headers={"X-API-Key": self.served.read},
        )
        answer.raise_for_status()
        return answer.json()

    def all_reports(self) -> dict[str, Any]:
        return {report: self.api(report) for report in REPORTS}


def _lines() -> tuple[list[str], list[str]]:
    """(every line of the file, the valid event lines among them)."""
    valid = [line.decode().rstrip("\n") for line in demo_lines(150, 21, 9, LAST)]
    for n in range(0, len(valid), 7):  # every 7th line without its id: the CLI derives it
        data = json.loads(valid[n])
        del data["event_id"]
        valid[n] = json.dumps(data)
    lines = list(valid)
    lines.insert(20, valid[19])  # a repeated line: one duplicate
    for number, text in sorted(BAD.items()):
        lines.insert(number - 1, text)
    return lines, valid


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    cwd = tmp_path_factory.mktemp("cli-e2e")
    lines, valid = _lines()
    path = cwd / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    for served in serve_with_keys(cwd):
        result = run_evana(
            "ingest",
            str(path),
            "--format",
            "json",
            env={"EVANA_URL": served.url} | {"EVANA_API_KEY": served.ingest},
        )
        yield Loaded(served, path, valid, result)


def test_bad_lines_are_rejected_by_number_and_the_rest_stored(loaded: Loaded) -> None:
    result = loaded.first
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["accepted"], summary["rejected"], summary["duplicates"]) == (
        len(loaded.valid) + 5,
        len(loaded.valid),
        4,
        1,
    )
    rejects = [json.loads(x) for x in Path(f"{loaded.path}.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == REJECTED
    assert [r["raw"] for r in rejects] == [BAD[n] for n in REJECTED]
    assert rejects[1]["error"].startswith("colour: unknown field")
    assert rejects[2]["error"] == "timestamp: must be an ISO 8601 string, not a number"
    assert result.stderr == "evana: 4 lines rejected\n"


def test_reingesting_plain_gzip_or_stdin_changes_no_report(loaded: Loaded, tmp_path: Path) -> None:
    before = loaded.all_reports()
    events = reference_events(loaded.valid)
    assert before["dau"] == reference.active(events, FIRST, LAST, 1)
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(loaded.path.read_bytes()))
    runs = [
        run_evana("ingest", str(loaded.path), env=loaded.env()),
        run_evana("ingest", str(packed), "-f", "json", env=loaded.env()),
        run_evana(
            "ingest",
            "-",
            "-f",
            "json",
            env=loaded.env(),
            input=loaded.path.read_text(),
            cwd=tmp_path,
        ),
    ]
    assert [run.returncode for run in runs] == [1, 1, 1]
    assert "Ingested" in runs[0].stdout
    for run in runs[1:]:
        assert json.loads(run.stdout)["accepted"] == len(loaded.valid)
    stdin_rejects = (tmp_path / "stdin.rejects.jsonl").read_text().splitlines()
    assert [json.loads(x)["line"] for x in stdin_rejects] == REJECTED
    assert [
        json.loads(x)["line"] for x in Path(f"{packed}.rejects.jsonl").read_text().splitlines()
    ] == REJECTED
    assert loaded.all_reports() == before


def _cli(loaded: Loaded, report: str, output: str) -> Any:
    extra = REPORTS[report][2]
    return run_evana(
        "stats",
        report,
        "--since",
        str(FIRST),
        "--until",
        str(LAST),
        *extra,
        "--format",
        output,
        env=loaded.env(loaded.served.read),
    )


def test_every_report_in_every_format(loaded: Loaded) -> None:
    jobs = [(report, output) for report in REPORTS for output in ("json", "csv", "table")]
    with ThreadPoolExecutor(4) as pool:  # 15 processes: run a few at once
        results = dict(zip(jobs, pool.map(lambda job: _cli(loaded, *job), jobs), strict=True))
    assert {job: r.returncode for job, r in results.items()} == dict.fromkeys(jobs, 0)
    events = reference_events(loaded.valid)
    expected = {
        "dau": reference.active(events, FIRST, LAST, 1),
        "wau": reference.active(events, FIRST, LAST, 7),
        "mau": reference.active(events, FIRST, LAST, 30),
        "top": reference.top(events, FIRST, LAST, 5),
        "retention": reference.retention(events, FIRST, LAST, "week", 4, "signup"),
    }
    for report in REPORTS:
        printed = json.loads(results[report, "json"].stdout)
        assert printed == loaded.api(report) == expected[report], report
        rows = results[report, "csv"].stdout.splitlines()
        length = len(printed.get("series") or printed.get("events") or printed["cohorts"])
        assert len(rows) == 1 + length, report
    assert results["dau", "csv"].stdout.splitlines()[1] == (
        f"{FIRST},{expected['dau']['series'][0]['users']}"
    )
    assert results["top", "csv"].stdout.splitlines()[0] == "event,count,users"
    assert (
        results["retention", "csv"].stdout.splitlines()[0]
        == "cohort,size,week_0,week_1,week_2,week_3"
    )
    tables = {report: results[report, "table"].stdout for report in REPORTS}
    assert f"Daily active users, {FIRST} to {LAST}" in tables["dau"]
    assert f"Weekly active users, {FIRST} to {LAST}" in tables["wau"]
    assert f"Monthly active users, {FIRST} to {LAST}" in tables["mau"]
    top = expected["top"]["events"][0]
    assert f"{top['event']} " in tables["top"]
    assert f"{top['count']:,}" in tables["top"]
    assert f"Retention by week, cohorts from {FIRST} to {LAST}" in tables["retention"]


def test_error_cases_are_one_clear_line(loaded: Loaded) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    span = ["--since", str(FIRST), "--until", str(LAST)]
    cases = [
        (
            ["stats", "dau", *span],
            {"EVANA_URL": dead, "EVANA_API_KEY": "k"},
            f"cannot reach the evana server at {dead} (",
        ),
        (
            ["ingest", str(loaded.path)],
            {"EVANA_URL": dead, "EVANA_API_KEY": "k"},
            f"cannot reach the evana server at {dead} (",
        ),
        (
            ["stats", "top", *span],
            loaded.env(loaded.served.ingest),
            "GET /v1/stats/top-events needs scope 'read' (or 'admin')",
        ),
        (
            ["ingest", str(loaded.path)],
            loaded.env(loaded.served.read),
            "POST /v1/events needs scope 'ingest' (or 'admin')",
        ),
        (
            ["stats", "mau", *span],
            loaded.env("evana_000000000000_wrong"),
            "refused the API key (unknown API key): this command needs a key with scope 'read'",
        ),
        (
            ["stats", "wau", *span],
            {"EVANA_URL": loaded.served.url, "EVANA_API_KEY": ""},
            "no API key: this command needs a key with scope 'read' (or 'admin')",
        ),
        (
            ["stats", "retention", "--since", "3 weeks ago"],
            loaded.env(loaded.served.read),
            "--since: cannot read '3 weeks ago' as a date; use YYYY-MM-DD, today, yesterday, or a"
            " span back from today such as 30d, 12w, 3m or 1y",
        ),
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda case: run_evana(*case[0], env=case[1]), cases))
    for (args, _, message), result in zip(cases, results, strict=True):
        usage = "3 weeks ago" in args  # a bad flag value: a usage error
        assert result.returncode == (2 if usage else 1), args
        assert result.stdout == "", args
        assert result.stderr.startswith("evana: error: "), args
        assert result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr, (args, result.stderr)
