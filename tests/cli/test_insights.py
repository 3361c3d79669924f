"""``evana trends``, ``evana funnel``, ``evana persons show`` and the new ``evana stats`` reports,
in-process against the HTTP contract (respx): the request each flag makes, and each format."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import respx
from typer.testing import CliRunner, Result

from .conftest import invoke

URL = "http://evana.test"
TODAY = dt.datetime.now(dt.UTC).date()

TRENDS = {
    "interval": "day",
    "since": "2026-11-01",
    "until": "2026-11-02",
    "results": [
        {
            "series": 0,
            "event": "purchase",
            "math": "sum",
            "breakdown": "pro",
            "points": [{"date": "2026-11-01", "value": 1234.5}, {"date": "2026-11-02", "value": 0}],
            "total": 1234.5,
        },
        {
            "series": 0,
            "event": "purchase",
            "math": "sum",
            "breakdown": "$other",
            "points": [{"date": "2026-11-01", "value": 2}, {"date": "2026-11-02", "value": 3.0}],
            "total": 5.0,
        },
    ],
}
FUNNEL = {
    "steps": [
        {"event": "signup", "users": 1000, "conversion": 1.0, "median_seconds": None},
        {"event": "activate", "users": 500, "conversion": 0.5, "median_seconds": 125.0},
        {"event": "purchase", "users": 125, "conversion": 0.125, "median_seconds": 93600.5},
    ]
}
STICKINESS = {
    "since": "2026-11-01",
    "until": "2026-11-03",
    "days": [
        {"days_active": 1, "users": 50},
        {"days_active": 2, "users": 20},
        {"days_active": 3, "users": 0},
    ],
}
LIFECYCLE = {
    "period": "week",
    "since": "2026-11-02",
    "until": "2026-11-15",
    "periods": [
        {"date": "2026-11-02", "new": 3, "returning": 0, "resurrecting": 0, "dormant": 0},
        {"date": "2026-11-09", "new": 1, "returning": 2, "resurrecting": 4, "dormant": 5},
    ],
}
PERSON = {
    "distinct_ids": ["anon_1", "u/42"],
    "properties": {"plan": "pro", "seats": 5, "tags": ["a", "b"]},
    "first_seen": "2026-11-01T09:00:00Z",
    "last_seen": "2026-11-02T10:30:00.500000Z",
}
ACTIVE = {"since": "2026-11-01", "until": "2026-11-01", "series": []}


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=URL, assert_all_called=False) as router:
        yield router


def run(runner: CliRunner, *args: str) -> Result:
    return invoke(runner, list(args), env={"EVANA_URL": URL, "EVANA_API_KEY": "read-key"})


def sent(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def params(route: respx.Route) -> dict[str, str]:
    return dict(route.calls.last.request.url.params)


def cells(line: str) -> list[str]:
    parts = line.strip().strip("│┃").replace("┃", "│").split("│")
    return [cell.strip() for cell in parts if cell.strip()]


# -- trends -------------------------------------------------------------------------------------


def test_trends_flags_make_the_query_and_json_is_the_apis(
    runner: CliRunner, api: respx.MockRouter
) -> None:
    route = api.post("/v1/query/trends").respond(200, json=TRENDS)
    result = run(
        runner,
        "trends",
        "purchase",
        "refund",
        "--math",
        "sum",
        "--property",
        "amount",
        "--where",
        "plan in pro,team",
        "-w",
        "amount gte 10",
        "-w",
        '[{"key": "person.country", "op": "eq", "value": "5"}, {"key": "x", "op": "is_set"}]',
        "--breakdown",
        "plan",
        "--breakdown-limit",
        "3",
        "--interval",
        "week",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-30",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == TRENDS
    where = [
        {"key": "plan", "op": "in", "value": ["pro", "team"]},
        {"key": "amount", "op": "gte", "value": 10},
        {"key": "person.country", "op": "eq", "value": "5"},
        {"key": "x", "op": "is_set", "value": None},
    ]
    series = {"math": "sum", "property": "amount", "where": where}
    assert sent(route) == {
        "since": "2026-11-01",
        "until": "2026-11-30",
        "interval": "week",
        "series": [{"event": "purchase", **series}, {"event": "refund", **series}],
        "breakdown": "plan",
        "breakdown_limit": 3,
    }
    assert route.calls.last.request.headers["x-api-key"] == "read-key"


def test_trends_defaults_and_every_event(runner: CliRunner, api: respx.MockRouter) -> None:
    route = api.post("/v1/query/trends").respond(200, json=TRENDS)
    assert run(runner, "trends", "*", "--since", "7d", "-f", "json").exit_code == 0
    assert sent(route) == {
        "since": str(TODAY - dt.timedelta(days=6)),
        "until": str(TODAY),
        "interval": "day",
        "series": [{"event": None, "math": "total", "property": None, "where": []}],
        "breakdown": None,
        "breakdown_limit": 10,
    }


def test_trends_table_has_a_row_per_date_a_column_per_result_and_totals(
    runner: CliRunner, api: respx.MockRouter
) -> None:
    api.post("/v1/query/trends").respond(200, json=TRENDS)
    args = ["trends", "purchase", "-m", "sum", "-p", "amount", "-b", "plan", "--since", "30d"]
    table = run(runner, *args)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert "Trends by day, 2026-11-01 to 2026-11-02" in lines[0]
    header = next(line for line in lines if "date" in line)
    assert cells(header) == ["date", "purchase sum(amount) pro", "purchase sum(amount) other"]
    rows = [cells(line) for line in lines if line.startswith("│")]
    assert rows == [
        ["2026-11-01", "1,234.5", "2"],
        ["2026-11-02", "0", "3"],
        ["total", "1,234.5", "5"],
    ]
    csv_out = run(runner, *args, "--format", "csv")
    assert csv_out.stdout.splitlines() == [
        "date,purchase sum(amount) pro,purchase sum(amount) other",
        "2026-11-01,1234.5,2",
        "2026-11-02,0,3.0",
        "total,1234.5,5.0",
    ]


# -- funnels ------------------------------------------------------------------------------------


def test_funnel_query_json_and_csv(runner: CliRunner, api: respx.MockRouter) -> None:
    route = api.post("/v1/query/funnel").respond(200, json=FUNNEL)
    args = ["funnel", "signup", "activate", "purchase", "--since", "2026-11-01"]
    result = run(
        runner, *args, "--until", "2026-11-20", "--window", "12h", "--order", "any", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == FUNNEL
    assert sent(route) == {
        "since": "2026-11-01",
        "until": "2026-11-20",
        "steps": [
            {"event": "signup", "where": []},
            {"event": "activate", "where": []},
            {"event": "purchase", "where": []},
        ],
        "window": {"value": 12, "unit": "hour"},
        "order": "any",
    }
    run(runner, *args)
    assert sent(route)["window"] == {"value": 14, "unit": "day"}
    assert sent(route)["order"] == "ordered"
    assert run(runner, *args, "-f", "csv").stdout.splitlines() == [
        "step,event,users,conversion,median_seconds",
        "1,signup,1000,1.0,",
        "2,activate,500,0.5,125.0",
        "3,purchase,125,0.125,93600.5",
    ]


def test_funnel_table_draws_a_bar_per_step(runner: CliRunner, api: respx.MockRouter) -> None:
    api.post("/v1/query/funnel").respond(200, json=FUNNEL)
    result = run(
        runner,
        "funnel",
        "signup",
        "activate",
        "purchase",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-20",
        "--window",
        "7d",
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Funnel, 2026-11-01 to 2026-11-20, within 7d (ordered)" in out
    lines = {cells(line)[1]: line for line in out.splitlines() if line.startswith("│")}
    bars = {name: line.count("█") for name, line in lines.items()}
    assert bars == {"signup": 32, "activate": 16, "purchase": 4}
    assert cells(lines["signup"])[-2:] == ["1,000", "100.0%"]
    assert cells(lines["activate"])[-3:] == ["500", "50.0%", "2m 5s"]
    assert cells(lines["purchase"])[-3:] == ["125", "12.5%", "1d 2h"]
    assert "12.5% of 1,000 got from the first step to the last" in out


# -- stats: stickiness, lifecycle, retention options, where -------------------------------------


def test_stickiness(runner: CliRunner, api: respx.MockRouter) -> None:
    route = api.get("/v1/stats/stickiness").respond(200, json=STICKINESS)
    args = ["stats", "stickiness", "--since", "2026-11-01", "--until", "2026-11-03"]
    result = run(runner, *args, "--event", "view", "-w", "plan eq pro", "-f", "json")
    assert json.loads(result.stdout) == STICKINESS
    assert params(route) == {
        "since": "2026-11-01",
        "until": "2026-11-03",
        "event": "view",
        "where": '[{"key":"plan","op":"eq","value":"pro"}]',
    }
    table = run(runner, *args, "--event", "view").stdout
    assert "Stickiness, 2026-11-01 to 2026-11-03, on view" in table
    rows = [cells(line)[:2] for line in table.splitlines() if line.startswith("│")]
    assert rows == [["1", "50"], ["2", "20"], ["3", "0"]]
    assert run(runner, *args, "-f", "csv").stdout.splitlines() == [
        "days_active,users",
        "1,50",
        "2,20",
        "3,0",
    ]


def test_lifecycle(runner: CliRunner, api: respx.MockRouter) -> None:
    route = api.get("/v1/stats/lifecycle").respond(200, json=LIFECYCLE)
    args = ["stats", "lifecycle", "--since", "2026-11-02", "--until", "2026-11-15"]
    result = run(runner, *args, "--period", "week", "--event", "login", "-f", "json")
    assert json.loads(result.stdout) == LIFECYCLE
    assert params(route) == {
        "since": "2026-11-02",
        "until": "2026-11-15",
        "period": "week",
        "event": "login",
    }
    run(runner, *args)
    assert params(route)["period"] == "day"
    table = run(runner, *args, "--period", "week").stdout
    rows = [cells(line) for line in table.splitlines() if line.startswith("│")]
    assert rows == [["2026-11-02", "3", "0", "0", "0"], ["2026-11-09", "1", "2", "4", "-5"]]
    assert run(runner, *args, "-f", "csv").stdout.splitlines() == [
        "date,new,returning,resurrecting,dormant",
        "2026-11-02,3,0,0,0",
        "2026-11-09,1,2,4,5",
    ]


def test_retention_type_cumulative_and_where(runner: CliRunner, api: respx.MockRouter) -> None:
    answer = {"period": "week", "since": "2026-11-02", "until": "2026-11-02", "cohorts": []}
    route = api.get("/v1/stats/retention").respond(200, json=answer)
    result = run(
        runner,
        "stats",
        "retention",
        "--since",
        "2026-11-02",
        "--until",
        "2026-11-02",
        "--type",
        "recurring",
        "--cumulative",
        "--where",
        "plan neq free",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == answer
    assert params(route) == {
        "since": "2026-11-02",
        "until": "2026-11-02",
        "period": "week",
        "periods": "8",
        "type": "recurring",
        "cumulative": "true",
        "where": '[{"key":"plan","op":"neq","value":"free"}]',
    }


@pytest.mark.parametrize(("command", "path"), [("dau", "dau"), ("wau", "wau"), ("mau", "mau")])
def test_where_on_active_users(
    runner: CliRunner, api: respx.MockRouter, command: str, path: str
) -> None:
    route = api.get(f"/v1/stats/{path}").respond(200, json=ACTIVE)
    result = run(
        runner, "stats", command, "--since", "2026-11-01", "--where", "n lt 2.5", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(params(route)["where"]) == [{"key": "n", "op": "lt", "value": 2.5}]


def test_where_on_top_events(runner: CliRunner, api: respx.MockRouter) -> None:
    answer = {"since": "2026-11-01", "until": "2026-11-01", "events": []}
    route = api.get("/v1/stats/top-events").respond(200, json=answer)
    result = run(runner, "stats", "top", "-w", "url contains /pricing", "-w", "bot is_not_set")
    assert result.exit_code == 0, result.output
    assert json.loads(params(route)["where"]) == [
        {"key": "url", "op": "contains", "value": "/pricing"},
        {"key": "bot", "op": "is_not_set"},
    ]


# -- persons ------------------------------------------------------------------------------------


def test_persons_show(runner: CliRunner, api: respx.MockRouter) -> None:
    route = api.get("/v1/persons/u%2F42").respond(200, json=PERSON)
    result = run(runner, "persons", "show", "u/42", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == PERSON
    assert route.calls.last.request.url.raw_path == b"/v1/persons/u%2F42"
    table = run(runner, "persons", "show", "u/42").stdout
    assert "anon_1, u/42" in table
    assert "2026-11-01T09:00:00Z" in table
    rows = [cells(line) for line in table.splitlines() if line.startswith("│")]
    assert ["tags", '["a", "b"]'] in rows
    assert ["seats", "5"] in rows
    assert run(runner, "persons", "show", "u/42", "-f", "csv").stdout.splitlines() == [
        "field,value",
        "distinct_id,anon_1",
        "distinct_id,u/42",
        "first_seen,2026-11-01T09:00:00Z",
        "last_seen,2026-11-02T10:30:00.500000Z",
        "properties.plan,pro",
        "properties.seats,5",
        'properties.tags,"[""a"", ""b""]"',
    ]


def test_an_unknown_person_is_one_line(runner: CliRunner, api: respx.MockRouter) -> None:
    api.get("/v1/persons/nobody").respond(
        404, json={"error": "not_found", "detail": "no person has the id 'nobody'"}
    )
    result = run(runner, "persons", "show", "nobody")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "evana: error: no person has the id 'nobody'\n"


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trends", "e", "--since", "30d", "-w", "amount gt lots"], "gt needs a number as value"),
        (["trends", "e", "--since", "30d", "-w", "amount"], "write a filter as 'KEY OP VALUE'"),
        (["trends", "e", "--since", "30d", "-w", "a like b"], "unknown op 'like'"),
        (["trends", "e", "--since", "30d", "-w", "a is_set x"], "is_set takes no value"),
        (["trends", "e", "--since", "30d", "-w", "a eq"], "eq needs a value"),
        (["trends", "e", "--since", "30d", "-w", "[1]"], "a filter is a JSON object"),
        (["trends", "e", "--since", "30d", "-w", "{oops"], "--where: not valid JSON"),
        (["trends", "e", "--since", "30d", "-m", "p90"], "--math p90 needs --property"),
        (["trends", *"abcdefghijk", "--since", "30d"], "at most 10 events"),
        (["trends", "e", "--since", "soon"], "--since: cannot read 'soon' as a date"),
        (["trends", "e"], "Missing option '--since'"),
        (["trends", "e", "--since", "30d", "--interval", "year"], "Invalid value for '--interval'"),
        (["funnel", "a", "--since", "30d"], "a funnel has 2 to 10 steps, not 1"),
        (["funnel", "a", "b", "--since", "30d", "--window", "2w"], "cannot read '2w'"),
        (["funnel", "a", "b", "--since", "30d", "--window", "400d"], "the window is over 365"),
        (["funnel", "a", "b", "--since", "2026-11-02", "--until", "2026-11-01"], "is after"),
        (["stats", "lifecycle", "--period", "year"], "Invalid value for '--period'"),
        (["stats", "retention", "--type", "often"], "Invalid value for '--type'"),
        (["stats", "dau", "-w", "n in"], "in needs a value"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    runner: CliRunner, api: respx.MockRouter, args: list[str], message: str
) -> None:
    route = api.route()
    result = run(runner, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("evana: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert route.call_count == 0


def test_a_query_the_server_refuses_is_a_usage_error(
    runner: CliRunner, api: respx.MockRouter
) -> None:
    api.post("/v1/query/trends").respond(
        422, json={"error": "invalid_request", "detail": "breakdown: unknown property"}
    )
    result = run(runner, "trends", "e", "--since", "30d", "-b", "nope")
    assert result.exit_code == 2
    assert result.stderr == "evana: error: invalid query: breakdown: unknown property\n"


def test_a_missing_key_is_said_before_any_request(runner: CliRunner, api: respx.MockRouter) -> None:
    route = api.route()
    result = invoke(runner, ["funnel", "a", "b", "--since", "30d"], env={"EVANA_URL": URL})
    assert result.exit_code == 1
    assert "no API key: this command needs a key with scope 'read'" in result.stderr
    assert route.call_count == 0
