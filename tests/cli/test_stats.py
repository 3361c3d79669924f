"""``evana stats`` in-process (CliRunner) against a real server: every report, format and option."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import evana
from tests import reference
from tests._services import free_port

from .conftest import Served, event, invoke, reference_events

TODAY = dt.datetime.now(dt.UTC).date()


def api(served: Served, path: str, **params: Any) -> Any:
    answer = httpx.get(
        f"{served.url}/v1/stats/{path}", params=params, headers={"X-API-Key": served.read}
    )
    answer.raise_for_status()
    return answer.json()


def stats(runner: CliRunner, served: Served, *args: str) -> Any:
    return invoke(runner, ["stats", *args, "--url", served.url, "--api-key", served.read])


@pytest.fixture
def loaded(served: Served, days: dt.date) -> tuple[dt.date, dt.date, list[reference.Ev]]:
    """Three weeks of a small product in this test's own days: (first day, last day, events).

    User ids are this test's own too: retention cohorts go by a user's first event ever.
    """
    lines = []
    for number in range(12):
        user = f"{days:%Y%m%d}_{number}"
        signup = number % 5
        for day in range(signup, 21, 1 + number % 4):
            when = dt.datetime.combine(days + dt.timedelta(days=day), dt.time(8 + number), dt.UTC)
            lines.append(event("signup" if day == signup else "visit", user, when))
            if number % 3 == 0:
                lines.append(event("buy", user, when + dt.timedelta(minutes=5)))
    with evana.Client(served.url, served.ingest) as client:
        result = client.send_batch([json.loads(line) for line in lines])
    assert result.accepted == len(lines)
    return days, days + dt.timedelta(days=20), reference_events(lines)


@pytest.mark.parametrize("kind", ["dau", "wau", "mau"])
def test_active_users_json_is_the_api_json_and_the_exact_numbers(
    runner: CliRunner,
    served: Served,
    loaded: tuple[dt.date, dt.date, list[reference.Ev]],
    kind: str,
) -> None:
    since, until, events = loaded
    result = stats(runner, served, kind, "--since", str(since), "--until", str(until), "-f", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == api(served, kind, since=str(since), until=str(until))
    window = {"dau": 1, "wau": 7, "mau": 30}[kind]
    assert printed == reference.active(events, since, until, window)


def test_active_users_as_csv_and_as_a_table_with_bars(
    runner: CliRunner, served: Served, loaded: tuple[dt.date, dt.date, list[reference.Ev]]
) -> None:
    since, until, events = loaded
    expected = reference.active(events, since, until, 1)["series"]
    csv_out = stats(
        runner, served, "dau", "--since", str(since), "--until", str(until), "-f", "csv"
    )
    assert csv_out.stdout.splitlines() == ["date,users"] + [
        f"{row['date']},{row['users']}" for row in expected
    ]
    table = stats(runner, served, "dau", "--since", str(since), "--until", str(until)).stdout
    assert f"Daily active users, {since} to {until}" in table
    peak = max(row["users"] for row in expected)
    first = next(line for line in table.splitlines() if line.lstrip("│ ").startswith(str(since)))
    assert first.replace("│", " ").split()[:3] == [
        str(since),
        since.strftime("%a"),
        str(expected[0]["users"]),
    ]
    assert "█" in table
    assert "▁" in table
    assert f"max {peak:,}" in table


def test_top_events_in_every_format(
    runner: CliRunner, served: Served, loaded: tuple[dt.date, dt.date, list[reference.Ev]]
) -> None:
    since, until, events = loaded
    span = ["--since", str(since), "--until", str(until), "--limit", "2"]
    printed = json.loads(stats(runner, served, "top", *span, "-f", "json").stdout)
    assert printed == api(served, "top-events", since=str(since), until=str(until), limit=2)
    assert printed == reference.top(events, since, until, 2)
    rows = [f"{r['event']},{r['count']},{r['users']}" for r in printed["events"]]
    assert stats(runner, served, "top", *span, "-f", "csv").stdout.splitlines() == [
        "event,count,users",
        *rows,
    ]
    table = stats(runner, served, "top", *span).stdout
    first = printed["events"][0]
    line = next(line for line in table.splitlines() if f" {first['event']} " in line)
    assert f"{first['count']:,}" in line
    assert f"{first['users']:,}" in line
    assert f"{first['count'] / first['users']:.1f}" in line  # events per user


@pytest.mark.parametrize(
    ("period", "periods", "start", "back"),
    [("day", 5, None, None), ("week", 4, "signup", "buy"), ("month", 2, None, "visit")],
)
def test_retention_json_and_csv_match_the_reference(
    runner: CliRunner,
    served: Served,
    loaded: tuple[dt.date, dt.date, list[reference.Ev]],
    period: str,
    periods: int,
    start: str | None,
    back: str | None,
) -> None:
    since, until, events = loaded
    args = ["retention", "--since", str(since), "--until", str(until), "--period", period]
    args += ["--periods", str(periods)]
    args += ["--start-event", start] if start else []
    args += ["--return-event", back] if back else []
    printed = json.loads(stats(runner, served, *args, "-f", "json").stdout)
    params: dict[str, Any] = {"since": since, "until": until, "period": period, "periods": periods}
    params |= {"start_event": start} if start else {}
    params |= {"return_event": back} if back else {}
    assert printed == api(served, "retention", **params)
    assert printed == reference.retention(events, since, until, period, periods, start, back)
    lines = stats(runner, served, *args, "-f", "csv").stdout.splitlines()
    assert lines[0] == ",".join(["cohort", "size", *(f"{period}_{k}" for k in range(periods))])
    assert [line.split(",")[:2] for line in lines[1:]] == [
        [c["cohort"], str(c["size"])] for c in printed["cohorts"]
    ]
    assert all(line.count(",") == periods + 1 for line in lines)  # null cells are empty


def test_retention_table_is_a_triangle_of_rates_with_counts_on_request(
    runner: CliRunner, served: Served, loaded: tuple[dt.date, dt.date, list[reference.Ev]]
) -> None:
    since, until, events = loaded
    until = since + dt.timedelta(days=3)  # a short range: the last cells are still running
    args = ["retention", "--since", str(since), "--until", str(until), "--period", "day"]
    args += ["--periods", "4"]
    expected = reference.retention(events, since, until, "day", 4)["cohorts"]
    first = expected[0]
    plain = stats(runner, served, *args).stdout
    row = next(line for line in plain.splitlines() if line.strip().startswith(str(since)))
    rates = [f"{kept / first['size']:.0%}" for kept in first["retained"]]
    assert row.split()[1:] == [str(first["size"]), *rates]
    last = next(line for line in plain.splitlines() if line.strip().startswith(str(until)))
    assert last.split()[1:] == [str(expected[-1]["size"]), "100%"]  # the triangle's tip
    assert "all" in plain
    assert "% of each cohort active again k days later" in plain
    counted = stats(runner, served, *args, "--counts").stdout.splitlines()
    at = next(n for n, line in enumerate(counted) if line.strip().startswith(str(since)))
    assert counted[at + 1].split() == [f"{kept:,}" for kept in first["retained"]]


def test_partial_periods_are_marked(runner: CliRunner, served: Served) -> None:
    this_week = TODAY - dt.timedelta(days=TODAY.weekday())
    result = stats(runner, served, "retention", "--since", str(this_week), "--periods", "2")
    assert result.exit_code == 0, result.output
    assert f"* the week is not over on {TODAY}" in " ".join(result.stdout.split())


def test_spans_and_defaults(runner: CliRunner, served: Served) -> None:
    printed = json.loads(stats(runner, served, "wau", "--since", "2w", "-f", "json").stdout)
    assert printed["until"] == str(TODAY)
    assert printed["since"] == str(TODAY - dt.timedelta(days=13))
    assert len(printed["series"]) == 14
    default = json.loads(stats(runner, served, "dau", "-f", "json").stdout)
    assert (default["since"], default["until"]) == (str(TODAY - dt.timedelta(days=29)), str(TODAY))
    cohorts = json.loads(stats(runner, served, "retention", "-f", "json", "--periods", "3").stdout)
    assert cohorts["period"] == "week"
    assert len(cohorts["cohorts"]) == 3


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (
            ["dau", "--since", "yesterdayish"],
            "read",
            "--since: cannot read 'yesterdayish' as a date;"
            " use YYYY-MM-DD, today, yesterday, or a span back from today such as 30d, 12w, 3m"
            " or 1y",
        ),
        (
            ["top", "--until", "2026-02-30"],
            "read",
            "--until: cannot read '2026-02-30' as a date (",
        ),
        (
            ["mau", "--since", "2026-02-02", "--until", "2026-02-01"],
            "read",
            "--since (2026-02-02) is after --until (2026-02-01)",
        ),
        (
            ["dau"],
            "ingest",
            "permission denied: this key has scope 'ingest'; GET /v1/stats/dau"
            " needs scope 'read' (or 'admin'); make a key with `evana keys create --scope read`",
        ),
        (
            ["wau"],
            "wrong",
            "refused the API key (unknown API key): this command needs a key with"
            " scope 'read' (or 'admin'); set EVANA_API_KEY or pass --api-key",
        ),
        (["retention"], None, "no API key: this command needs a key with scope 'read'"),
        (["retention", "--period", "year"], "read", "Invalid value for '--period'"),
    ],
)
def test_errors_are_one_line(
    runner: CliRunner, served: Served, args: list[str], key: str | None, message: str
) -> None:
    keys = {"read": served.read, "ingest": served.ingest, "wrong": "evana_000000000000_nope"}
    env = {"EVANA_URL": served.url} | ({"EVANA_API_KEY": keys[key]} if key else {})
    result = invoke(runner, ["stats", *args], env=env)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("evana: error: ")
    assert message in result.stderr


def test_an_unreachable_server_is_named(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = invoke(runner, ["stats", "dau", "--url", url, "--api-key", "k"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"evana: error: cannot reach the evana server at {url} (")
    assert "is `evana serve` running? Set EVANA_URL or pass --url" in result.stderr


def test_flags_beat_the_environment(runner: CliRunner, served: Served) -> None:
    env = {"EVANA_URL": f"http://127.0.0.1:{free_port()}", "EVANA_API_KEY": "evana_bad"}
    args = ["stats", "dau", "--since", "today", "-f", "json"]
    assert invoke(runner, args, env=env).exit_code == 1
    flagged = invoke(runner, [*args, "--url", served.url, "--api-key", served.read], env=env)
    assert flagged.exit_code == 0, flagged.output
    from_env = invoke(runner, args, env={"EVANA_URL": served.url, "EVANA_API_KEY": served.read})
    assert json.loads(from_env.stdout) == json.loads(flagged.stdout)
