"""Every table of the CLI at 80 and at 40 columns (``COLUMNS``): no line wider than the screen,
no number cut, no period, day or row dropped.

Before, at 80 columns ``evana stats retention --counts`` cropped its last periods and cut
numbers mid-digit (``9,147`` printed ``9,``), and a long range's sparkline wrapped.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from types import SimpleNamespace
from typing import Any

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from evana.cli import _dlq
from evana.cli._output import Format
from evana.cli._reports import print_report
from evana.schema import ActiveUsers, Cohort, DayValue, EventCount, Retention, TopEvents

from .conftest import Served, event, invoke

WIDTHS = (80, 40)
START = dt.date(2026, 1, 5)  # a Monday


def tokens(text: str) -> set[str]:
    return set(re.split(r"[\s│┃|]+", text))


def check_fits(text: str, width: int) -> None:
    wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not wide, f"{len(wide)} lines wider than {width}:\n" + "\n".join(wide[:3])


@pytest.fixture(params=WIDTHS)
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("COLUMNS", str(request.param))
    return int(request.param)


def active(days: int, seed: int = 1) -> ActiveUsers:
    rng = random.Random(seed)
    series = [
        DayValue(date=START + dt.timedelta(days=n), users=rng.randint(0, 2_345_678))
        for n in range(days)
    ]
    return ActiveUsers(since=START, until=series[-1].date, series=series)


def retention(period: str, periods: int, seed: int = 2) -> Retention:
    rng = random.Random(seed)
    step = {"day": dt.timedelta(days=1), "week": dt.timedelta(weeks=1)}
    cohorts = []
    for n in range(periods):
        start = (
            dt.date(2026 + (n // 12), n % 12 + 1, 1)
            if period == "month"
            else START + n * step[period]
        )
        size = rng.choice([0, 7, rng.randint(1000, 99_999)])
        kept = [size, *(rng.randint(0, size) for _ in range(periods - n - 1))]
        cohorts.append(Cohort(cohort=start, size=size, retained=kept + [None] * n))
    until = cohorts[-1].cohort + dt.timedelta(days=40)
    return Retention(period=period, since=START, until=until, cohorts=cohorts)  # type: ignore[arg-type]


@pytest.mark.parametrize("days", [1, 30, 90, 400])
def test_active_users_tables_fit(capsys: pytest.CaptureFixture[str], width: int, days: int) -> None:
    report = active(days)
    print_report(report, Format.table, title="Daily active users")
    out = capsys.readouterr().out
    check_fits(out, width)
    seen = tokens(out)
    for row in report.series:
        assert str(row.date) in seen
        assert f"{row.users:,}" in seen
    spark = next(line for line in out.splitlines() if "▁" in line or "█" in line.strip()[:1])
    assert cell_len(spark) <= width  # one line: the sparkline does not wrap
    if days > width:
        assert "a mark is" in out


def test_top_events_tables_fit(capsys: pytest.CaptureFixture[str], width: int) -> None:
    names = ["page_view", "checkout_completed_with_a_coupon_code_applied_" * 3, "a b c " * 20]
    rows = [EventCount(event=n, count=9_147_000 + i, users=99_999 - i) for i, n in enumerate(names)]
    print_report(TopEvents(since=START, until=START, events=rows), Format.table)
    out = capsys.readouterr().out
    check_fits(out, width)
    seen = tokens(out)
    for row in rows:
        assert f"{row.count:,}" in seen
        assert f"{row.users:,}" in seen


@pytest.mark.parametrize(
    ("period", "periods"), [("day", 14), ("week", 8), ("week", 26), ("month", 12)]
)
@pytest.mark.parametrize("counts", [True, False])
def test_retention_tables_fit_and_keep_every_period(
    capsys: pytest.CaptureFixture[str], width: int, period: str, periods: int, counts: bool
) -> None:
    report = retention(period, periods)
    print_report(report, Format.table, counts=counts)
    out = capsys.readouterr().out
    check_fits(out, width)
    seen = tokens(out)
    headers = [line for line in out.splitlines() if line.strip().startswith(f"{period} of")]
    shown = [int(k) for line in headers for k in line.split()[3:]]
    assert shown == list(range(periods))  # every period, once, in order
    for cohort in report.cohorts:
        label = cohort.cohort.strftime("%Y-%m") if period == "month" else str(cohort.cohort)
        assert label in seen
        assert f"{cohort.size:,}" in seen
        if counts:
            for kept in cohort.retained:
                assert kept is None or f"{kept:,}" in seen
    assert f"% of each cohort active again k {period}s later" in " ".join(out.split())


def test_retention_with_counts_at_80_columns_through_the_cli(
    runner: CliRunner, served: Served, days: dt.date
) -> None:
    # The report of the issue: weekly retention with counts, at 80 columns, from the server.
    lines = []
    for number in range(60):
        for week in range(0, 10, 1 + number % 3):
            when = days + dt.timedelta(weeks=week, days=number % 7)
            lines.append(event("visit", f"{days:%Y%m%d}_w{number}", when))
    import evana

    with evana.Client(served.url, served.ingest) as client:
        assert client.send_batch([json.loads(line) for line in lines]).accepted == len(lines)
    since, until = days, days + dt.timedelta(weeks=10)
    span = ["--since", str(since), "--until", str(until), "--periods", "10", "--period", "week"]
    api = ["--url", served.url, "--api-key", served.read]
    printed = json.loads(invoke(runner, ["stats", "retention", *span, *api, "-f", "json"]).stdout)
    for columns in WIDTHS:
        result = invoke(
            runner, ["stats", "retention", *span, "--counts", *api], env={"COLUMNS": str(columns)}
        )
        assert result.exit_code == 0, result.output
        check_fits(result.stdout, columns)
        seen = tokens(result.stdout)
        for cohort in printed["cohorts"]:
            assert cohort["cohort"] in seen
            for kept in cohort["retained"]:
                assert kept is None or f"{kept:,}" in seen


def test_keys_list_fits(runner: CliRunner, served: Served) -> None:
    api = ["--url", served.url, "--api-key", served.admin]
    made = invoke(
        runner, ["keys", "create", "--scope", "read", "--name", "n" * 60, *api, "-f", "json"]
    )
    key_id = json.loads(made.stdout)["key_id"]
    for columns in WIDTHS:
        result = invoke(runner, ["keys", "list", *api], env={"COLUMNS": str(columns)})
        assert result.exit_code == 0, result.output
        check_fits(result.stdout, columns)
        assert key_id in tokens(result.stdout)


def test_ingest_summary_fits(runner: CliRunner, served: Served, days: dt.date, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / ("a-long-file-name-without-any-space-" * 3 + ".jsonl")
    good = [event("visit", f"u{n}", days) for n in range(3)]
    path.write_text("\n".join([*good, '{"event": "visit"}', "not json"]) + "\n")
    api = ["--url", served.url, "--api-key", served.ingest]
    for columns in WIDTHS:
        result = invoke(runner, ["ingest", str(path), *api], env={"COLUMNS": str(columns)})
        assert result.exit_code == 1, result.output  # two lines rejected
        # The paths are printed whole on lines of their own (a terminal soft-wraps them).
        tables = [line for line in result.stdout.splitlines() if str(tmp_path) not in line]
        check_fits("\n".join(tables), columns)
        assert {"5", "2"} <= tokens(result.stdout)


def test_dlq_list_fits(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [
        SimpleNamespace(
            summary=lambda n=n: {
                "id": 10_000 + n,
                "events": 2_000,
                "attempts": 5,
                "failed_at": "2026-11-30T13:19:53.123456+00:00",
                "error": "PermanentStorageError: value too long for type character varying(200)",
            }
        )
        for n in range(3)
    ]
    monkeypatch.setattr(_dlq, "_run", lambda *args: entries)
    for columns in WIDTHS:
        result = invoke(runner, ["dlq", "list"], env={"COLUMNS": str(columns)})
        assert result.exit_code == 0, result.output
        check_fits(result.stdout, columns)
        seen = tokens(result.stdout)
        assert {"10,000", "10000"} & seen
        assert "2026-11-30T13:19:53.123456+00:00" in seen


def insight_reports() -> list[tuple[Any, set[str]]]:
    """One of each insight, large numbers and long names, and the cells each must show whole."""
    from evana.insights import FunnelResult, Lifecycle, Person, Stickiness, Trends

    days = [START + dt.timedelta(days=n) for n in range(14)]
    results = [
        {
            "series": n,
            "event": f"checkout_completed_with_coupon_{n}",
            "math": "sum",
            "breakdown": "enterprise plan",
            "points": [{"date": str(d), "value": 1_234_567.89 + i} for i, d in enumerate(days)],
            "total": 98_765_432.1,
        }
        for n in range(4)
    ]
    trends = Trends.model_validate(
        {"interval": "day", "since": days[0], "until": days[-1], "results": results}
    )
    steps = [
        {
            "event": f"step_{n}_" + "x" * 30,
            "users": 2_345_678 // (n + 1),
            "conversion": 1 / (n + 1),
            "median_seconds": 90_000.0 * n or None,
        }
        for n in range(5)
    ]
    funnel = FunnelResult.model_validate({"steps": steps})
    sticky = Stickiness.model_validate(
        {
            "since": days[0],
            "until": days[-1],
            "days": [{"days_active": n + 1, "users": 9_147_000 - n} for n in range(14)],
        }
    )
    cycle = Lifecycle.model_validate(
        {
            "period": "week",
            "since": days[0],
            "until": days[-1],
            "periods": [
                {
                    "date": str(d),
                    "new": 1_234_567,
                    "returning": 7_654_321,
                    "resurrecting": 55_555,
                    "dormant": 3_333_333,
                }
                for d in days[::7]
            ],
        }
    )
    person = Person.model_validate(
        {
            "distinct_ids": ["anonymous_" + "a" * 40, "u_42"],
            "properties": {"plan": "pro"},
            "first_seen": "2026-01-05T09:00:00Z",
            "last_seen": "2026-01-06T10:00:00Z",
        }
    )
    return [
        (trends, {"1,234,567.89", "98,765,432.1"}),
        (funnel, {"2,345,678", "1,172,839", "1d", "1h"}),
        (sticky, {"9,147,000", "9,146,987"}),
        (cycle, {"1,234,567", "7,654,321", "55,555", "-3,333,333"}),
        (person, {"u_42", "pro"}),
    ]


@pytest.mark.parametrize("index", range(5))
def test_insight_tables_fit(capsys: pytest.CaptureFixture[str], width: int, index: int) -> None:
    from evana.cli._insight_reports import print_insight

    report, cells = insight_reports()[index]
    print_insight(report, Format.table)
    out = capsys.readouterr().out
    check_fits(out, width)
    assert cells <= tokens(out)
