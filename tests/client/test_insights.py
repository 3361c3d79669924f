"""``client.query``, ``client.persons`` and the new ``client.stats`` reports: the HTTP contract
(request shape), typed answers, and queries the server would refuse failing before sending."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import pytest
import respx

import evana
from evana.client import RetryPolicy
from evana.errors import ConfigurationError, InvalidRequestError, NotFoundError
from evana.insights import (
    Filter,
    FunnelResult,
    FunnelStep,
    FunnelWindow,
    Lifecycle,
    Person,
    Stickiness,
    Trends,
    TrendSeries,
)
from evana.schema import ActiveUsers, Retention, TopEvents

from .conftest import URL

T = TypeVar("T")
TODAY = dt.datetime.now(dt.UTC).date()
POLICY = RetryPolicy(base_delay=0.001, max_delay=0.01, budget=2)

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
            "points": [{"date": "2026-11-01", "value": 9.5}, {"date": "2026-11-02", "value": 0}],
            "total": 9.5,
        },
        {
            "series": 0,
            "event": "purchase",
            "math": "sum",
            "breakdown": None,
            "points": [
                {"date": "2026-11-01", "value": None},
                {"date": "2026-11-02", "value": 3},
            ],
            "total": 3,
        },
    ],
}
FUNNEL = {
    "steps": [
        {"event": "signup", "users": 10, "conversion": 1.0, "median_seconds": None},
        {"event": "purchase", "users": 4, "conversion": 0.4, "median_seconds": 3600.5},
    ]
}
STICKINESS = {
    "since": "2026-11-01",
    "until": "2026-11-03",
    "days": [
        {"days_active": 1, "users": 5},
        {"days_active": 2, "users": 2},
        {"days_active": 3, "users": 0},
    ],
}
LIFECYCLE = {
    "period": "week",
    "since": "2026-11-02",
    "until": "2026-11-15",
    "periods": [
        {"date": "2026-11-02", "new": 3, "returning": 0, "resurrecting": 0, "dormant": 0},
        {"date": "2026-11-09", "new": 1, "returning": 2, "resurrecting": 0, "dormant": 1},
    ],
}
PERSON = {
    "distinct_ids": ["anon_1", "u/42"],
    "properties": {"plan": "pro", "email": "a@example.com"},
    "first_seen": "2026-11-01T09:00:00Z",
    "last_seen": "2026-11-02T10:30:00.5Z",
}
ACTIVE = {"since": "2026-11-01", "until": "2026-11-01", "series": []}


@pytest.fixture
def client() -> Iterator[evana.Client]:
    with evana.Client(URL, "read-key", retry=POLICY) as c:
        yield c


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def body(route: respx.Route) -> Any:
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-api-key"] == "read-key"
    return json.loads(request.content)


def params(route: respx.Route) -> dict[str, str]:
    return dict(route.calls.last.request.url.params)


# -- trends -------------------------------------------------------------------------------------


def test_trends_of_one_event_sends_the_full_query(
    api: respx.MockRouter, client: evana.Client
) -> None:
    route = api.post("/v1/query/trends").respond(200, json=TRENDS)
    trend = client.query.trends(
        "purchase",
        since=dt.date(2026, 11, 1),
        until="2026-11-02",
        math="sum",
        property="amount",
        where=[{"key": "plan", "op": "in", "value": ["pro", "team"]}],
        breakdown="plan",
        breakdown_limit=5,
    )
    assert isinstance(trend, Trends)
    assert trend.results[0].breakdown == "pro"
    assert trend.results[0].points[0].date == dt.date(2026, 11, 1)
    assert trend.results[1].points[0].value is None
    assert route.calls.last.request.method == "POST"
    assert body(route) == {
        "since": "2026-11-01",
        "until": "2026-11-02",
        "interval": "day",
        "series": [
            {
                "event": "purchase",
                "math": "sum",
                "property": "amount",
                "where": [{"key": "plan", "op": "in", "value": ["pro", "team"]}],
            }
        ],
        "breakdown": "plan",
        "breakdown_limit": 5,
    }


def test_trends_of_several_series_in_every_form(
    api: respx.MockRouter, client: evana.Client
) -> None:
    route = api.post("/v1/query/trends").respond(200, json=TRENDS)
    client.query.trends(
        [
            "signup",
            None,
            TrendSeries(event="purchase", math="p90", property="amount"),
            {"event": "view", "math": "users", "where": [Filter(key="x", op="is_set")]},
        ],
        since="7d",
        interval="week",
        math="users",
    )
    sent = body(route)
    assert sent["since"] == str(TODAY - dt.timedelta(days=6))
    assert sent["until"] == str(TODAY)
    assert sent["interval"] == "week"
    assert sent["breakdown"] is None
    assert sent["breakdown_limit"] == 10
    assert [(s["event"], s["math"], s["property"]) for s in sent["series"]] == [
        ("signup", "users", None),  # names take the call's math
        (None, "users", None),
        ("purchase", "p90", "amount"),  # given series keep their own
        ("view", "users", None),
    ]
    assert sent["series"][3]["where"] == [{"key": "x", "op": "is_set", "value": None}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"series": "purchase", "math": "sum"}, "series.0: math sum needs a property"),
        ({"series": ["e"] * 11}, "series: List should have at most 10 items"),
        ({"series": []}, "series: List should have at least 1 item"),
        ({"series": "e", "math": "mode"}, "series.0.math: Input should be"),
        ({"series": "e", "interval": "year"}, "interval: Input should be"),
        ({"series": "e", "breakdown_limit": 0}, "breakdown_limit: Input should be greater"),
        (
            {"series": "e", "where": [{"key": "n", "op": "gt", "value": "5"}]},
            "where.0: gt needs a number as value",
        ),
        (
            {"series": "e", "where": [{"key": "n", "op": "eq", "value": None}]},
            "where.0: eq needs a value (for a missing property use is_not_set)",
        ),
        (
            {"series": "e", "where": [{"key": "n", "op": "like", "value": "x"}]},
            "where.0.op: Input should be",
        ),
        ({"series": "e", "where": ["plan eq pro"]}, "where.0: a filter is a mapping"),
        ({"series": "e", "since": "2026-11-02", "until": "2026-11-01"}, "is after until"),
        ({"series": {"event": "e", "colour": "red"}}, "series.0.colour: Extra inputs"),
    ],
)
def test_trends_the_server_would_refuse_fail_here(
    api: respx.MockRouter, client: evana.Client, kwargs: dict[str, Any], message: str
) -> None:
    route = api.route()
    with pytest.raises(InvalidRequestError) as caught:
        client.query.trends(**kwargs)
    assert message in caught.value.detail
    assert caught.value.status_code == 422
    assert route.call_count == 0


def test_a_bad_date_is_a_configuration_error_as_in_stats(
    api: respx.MockRouter, client: evana.Client
) -> None:
    route = api.route()
    with pytest.raises(ConfigurationError, match="30d"):
        client.query.trends("e", since="last month")
    with pytest.raises(ConfigurationError, match="30d"):
        client.query.funnel(["a", "b"], until="soon")
    assert route.call_count == 0


def test_the_servers_422_is_the_same_error(api: respx.MockRouter, client: evana.Client) -> None:
    answer = {"error": "invalid_request", "detail": "series.0.event: unknown", "errors": []}
    api.post("/v1/query/trends").respond(422, json=answer)
    with pytest.raises(InvalidRequestError, match=r"series\.0\.event: unknown"):
        client.query.trends("e", since="2026-11-01")


def test_queries_are_retried_like_reads(api: respx.MockRouter, client: evana.Client) -> None:
    route = api.post("/v1/query/funnel")
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json=FUNNEL)]
    assert client.query.funnel(["signup", "purchase"]).steps[1].users == 4
    assert route.call_count == 2


# -- funnels ------------------------------------------------------------------------------------


def test_funnel_sends_steps_window_and_order(api: respx.MockRouter, client: evana.Client) -> None:
    route = api.post("/v1/query/funnel").respond(200, json=FUNNEL)
    funnel = client.query.funnel(
        [
            {"event": "signup", "where": [{"key": "source", "op": "eq", "value": "ad"}]},
            FunnelStep(event="view"),
            "purchase",
        ],
        since="2026-11-01",
        until="2026-11-30",
        window="12h",
        order="any",
    )
    assert isinstance(funnel, FunnelResult)
    assert funnel.steps[1].median_seconds == 3600.5
    assert body(route) == {
        "since": "2026-11-01",
        "until": "2026-11-30",
        "steps": [
            {"event": "signup", "where": [{"key": "source", "op": "eq", "value": "ad"}]},
            {"event": "view", "where": []},
            {"event": "purchase", "where": []},
        ],
        "window": {"value": 12, "unit": "hour"},
        "order": "any",
    }


@pytest.mark.parametrize(
    ("window", "sent"),
    [
        ("14d", {"value": 14, "unit": "day"}),
        ("30m", {"value": 30, "unit": "minute"}),
        ("2 days", {"value": 2, "unit": "day"}),
        (dt.timedelta(hours=36), {"value": 36, "unit": "hour"}),
        (dt.timedelta(days=365), {"value": 365, "unit": "day"}),
        (FunnelWindow(value=5, unit="minute"), {"value": 5, "unit": "minute"}),
        ({"value": 3}, {"value": 3, "unit": "day"}),
    ],
)
def test_funnel_windows(
    api: respx.MockRouter, client: evana.Client, window: Any, sent: dict[str, Any]
) -> None:
    route = api.post("/v1/query/funnel").respond(200, json=FUNNEL)
    client.query.funnel(["a", "b"], since="2026-11-01", window=window)
    assert body(route)["window"] == sent
    assert body(route)["order"] == "ordered"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": ["signup"]}, "steps: List should have at least 2 items"),
        ({"steps": [str(n) for n in range(11)]}, "steps: List should have at most 10 items"),
        ({"steps": "signup"}, "steps: expected a list"),
        ({"steps": ["a", ""]}, "steps.1.event: String should have at least 1 character"),
        ({"steps": ["a", "b"], "window": "366d"}, "window: Value error, the window is over"),
        ({"steps": ["a", "b"], "window": "8761h"}, "the window is over 365 days"),
        ({"steps": ["a", "b"], "window": "0d"}, "window.value: Input should be greater"),
        ({"steps": ["a", "b"], "window": "2 weeks"}, "window: cannot read '2 weeks'"),
        ({"steps": ["a", "b"], "window": dt.timedelta(seconds=90)}, "whole number of minutes"),
        ({"steps": ["a", "b"], "order": "strict"}, "order: Input should be"),
    ],
)
def test_funnels_the_server_would_refuse_fail_here(
    api: respx.MockRouter, client: evana.Client, kwargs: dict[str, Any], message: str
) -> None:
    route = api.route()
    with pytest.raises(InvalidRequestError) as caught:
        client.query.funnel(**kwargs)
    assert message.removeprefix("window: Value error, ") in caught.value.detail
    assert route.call_count == 0


# -- stats: stickiness, lifecycle, retention options, where --------------------------------------


def test_stickiness_and_lifecycle(api: respx.MockRouter, client: evana.Client) -> None:
    sticky = api.get("/v1/stats/stickiness").respond(200, json=STICKINESS)
    report = client.stats.stickiness(
        "2026-11-01", "2026-11-03", event="view", where={"key": "plan", "op": "eq", "value": "pro"}
    )
    assert isinstance(report, Stickiness)
    assert [row.users for row in report.days] == [5, 2, 0]
    assert params(sticky) == {
        "since": "2026-11-01",
        "until": "2026-11-03",
        "event": "view",
        "where": '[{"key":"plan","op":"eq","value":"pro"}]',
    }
    client.stats.stickiness()
    assert params(sticky) == {}
    client.stats.stickiness("2026-11-01", "2026-11-03", "view")
    assert params(sticky)["event"] == "view"
    life = api.get("/v1/stats/lifecycle").respond(200, json=LIFECYCLE)
    cycle = client.stats.lifecycle("2026-11-02", "2026-11-15", "week")
    assert isinstance(cycle, Lifecycle)
    assert cycle.periods[1].dormant == 1
    assert params(life) == {"since": "2026-11-02", "until": "2026-11-15", "period": "week"}
    client.stats.lifecycle(event="signup", where=[Filter(key="person.plan", op="is_not_set")])
    assert params(life) == {
        "period": "day",
        "event": "signup",
        "where": '[{"key":"person.plan","op":"is_not_set"}]',
    }
    with pytest.raises(ConfigurationError, match="period"):
        client.stats.lifecycle(period="year")  # type: ignore[arg-type]


def test_retention_type_cumulative_and_where(api: respx.MockRouter, client: evana.Client) -> None:
    answer = {"period": "day", "since": "2026-11-01", "until": "2026-11-01", "cohorts": []}
    route = api.get("/v1/stats/retention").respond(200, json=answer)
    report = client.stats.retention(
        "2026-11-01",
        "2026-11-01",
        period="day",
        periods=3,
        type="recurring",
        cumulative=True,
        where=[{"key": "n", "op": "gte", "value": 2.5}],
    )
    assert isinstance(report, Retention)
    assert params(route) == {
        "since": "2026-11-01",
        "until": "2026-11-01",
        "period": "day",
        "periods": "3",
        "type": "recurring",
        "cumulative": "true",
        "where": '[{"key":"n","op":"gte","value":2.5}]',
    }
    client.stats.retention()
    assert params(route) == {"period": "week", "periods": "8"}  # defaults go unsaid
    with pytest.raises(ConfigurationError, match="type"):
        client.stats.retention(type="sometimes")  # type: ignore[arg-type]


def test_where_on_every_earlier_report_is_url_encoded_json(
    api: respx.MockRouter, client: evana.Client
) -> None:
    where = [
        {"key": "page.url", "op": "contains", "value": "/pricing?a=1&b=é"},
        {"key": "n", "op": "not_in", "value": [1, 2]},
    ]
    expected = json.dumps(where, ensure_ascii=False, separators=(",", ":"))
    for kind in ("dau", "wau", "mau"):
        route = api.get(f"/v1/stats/{kind}").respond(200, json=ACTIVE)
        assert isinstance(getattr(client.stats, kind)(where=where), ActiveUsers)
        assert params(route) == {"where": expected}
        raw = route.calls.last.request.url.query.decode()
        assert "&b=" not in raw  # the JSON's own & and = are encoded
        assert unquote(raw.removeprefix("where=").replace("+", " ")) == expected
    top = api.get("/v1/stats/top-events").respond(
        200, json={"since": "2026-11-01", "until": "2026-11-01", "events": []}
    )
    assert isinstance(client.stats.top_events("2026-11-01", limit=3, where=where), TopEvents)
    assert params(top) == {"since": "2026-11-01", "limit": "3", "where": expected}
    client.stats.dau(where=[])
    route = api.get("/v1/stats/dau")
    assert params(route) == {}


def test_a_bad_filter_fails_before_any_report(api: respx.MockRouter, client: evana.Client) -> None:
    route = api.route()
    bad = [{"key": "", "op": "eq", "value": 1}]
    for call in (
        lambda: client.stats.dau(where=bad),
        lambda: client.stats.top_events(where=bad),
        lambda: client.stats.retention(where=bad),
        lambda: client.stats.stickiness(where=bad),
        lambda: client.stats.lifecycle(where=bad),
    ):
        with pytest.raises(InvalidRequestError, match=r"where\.0\.key: String should have"):
            call()
    with pytest.raises(InvalidRequestError, match="where: expected a list of filters"):
        client.stats.dau(where="plan eq pro")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="is_set takes no value"):
        client.stats.mau(where=[{"key": "a", "op": "is_set", "value": True}])
    with pytest.raises(InvalidRequestError, match="contains needs a string"):
        client.stats.wau(where=[{"key": "a", "op": "contains", "value": 5}])
    assert route.call_count == 0


# -- persons ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distinct_id", "path"),
    [
        ("u_42", "/v1/persons/u_42"),
        ("u/42", "/v1/persons/u%2F42"),
        ("..", "/v1/persons/%2E%2E"),
        ("a b?c#d", "/v1/persons/a%20b%3Fc%23d"),
        ("jürgen", "/v1/persons/j%C3%BCrgen"),
        (42, "/v1/persons/42"),
    ],
)
def test_persons_get_puts_the_id_in_one_path_segment(
    api: respx.MockRouter, client: evana.Client, distinct_id: str | int, path: str
) -> None:
    route = api.get(url__regex=r"/v1/persons/.+").respond(200, json=PERSON)
    person = client.persons.get(distinct_id)
    assert isinstance(person, Person)
    assert person.distinct_ids == ["anon_1", "u/42"]
    assert person.properties["plan"] == "pro"
    assert person.first_seen == dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
    assert route.calls.last.request.url.raw_path.decode() == path


def test_an_unknown_person_and_a_bad_id(api: respx.MockRouter, client: evana.Client) -> None:
    api.get("/v1/persons/nobody").respond(
        404, json={"error": "not_found", "detail": "no person with id 'nobody'"}
    )
    with pytest.raises(NotFoundError, match="no person"):
        client.persons.get("nobody")
    for bad in ("", None, True):
        with pytest.raises(InvalidRequestError, match="non-empty distinct id"):
            client.persons.get(bad)  # type: ignore[arg-type]


def test_a_person_never_seen_reads_without_times(
    api: respx.MockRouter, client: evana.Client
) -> None:
    answer = {"distinct_ids": ["x"], "properties": {}, "first_seen": None, "last_seen": None}
    api.get("/v1/persons/x").respond(200, json=answer)
    assert client.persons.get("x").last_seen is None


# -- the async client: the same calls, awaited --------------------------------------------------


def test_async_client_has_every_new_call(api: respx.MockRouter) -> None:
    trends = api.post("/v1/query/trends").respond(200, json=TRENDS)
    funnel = api.post("/v1/query/funnel").respond(200, json=FUNNEL)
    sticky = api.get("/v1/stats/stickiness").respond(200, json=STICKINESS)
    life = api.get("/v1/stats/lifecycle").respond(200, json=LIFECYCLE)
    person = api.get("/v1/persons/u%2F42").respond(200, json=PERSON)
    retention = api.get("/v1/stats/retention").respond(
        200, json={"period": "week", "since": "2026-11-02", "until": "2026-11-02", "cohorts": []}
    )
    dau = api.get("/v1/stats/dau").respond(200, json=ACTIVE)
    where = [{"key": "plan", "op": "eq", "value": "pro"}]

    async def main() -> tuple[Any, ...]:
        async with evana.AsyncClient(URL, "read-key", retry=POLICY) as client:
            return (
                await client.query.trends("purchase", "2026-11-01", "2026-11-02", where=where),
                await client.query.funnel(["signup", "purchase"], "2026-11-01", window="1d"),
                await client.stats.stickiness("2026-11-01", "2026-11-03", event="view"),
                await client.stats.lifecycle("2026-11-02", "2026-11-15", period="week"),
                await client.persons.get("u/42"),
                await client.stats.retention("2026-11-02", type="recurring", cumulative=True),
                await client.stats.dau(where=where),
            )

    results = run(main())
    assert [type(r) for r in results] == [
        Trends,
        FunnelResult,
        Stickiness,
        Lifecycle,
        Person,
        Retention,
        ActiveUsers,
    ]
    assert body(trends)["series"][0]["where"] == where
    assert body(funnel)["window"] == {"value": 1, "unit": "day"}
    assert params(sticky)["event"] == "view"
    assert params(life)["period"] == "week"
    assert person.call_count == 1
    assert params(retention)["type"] == "recurring"
    assert params(retention)["cumulative"] == "true"
    assert json.loads(params(dau)["where"]) == where


def test_async_client_refuses_bad_queries_before_sending(api: respx.MockRouter) -> None:
    route = api.route()

    async def main() -> list[str]:
        errors = []
        async with evana.AsyncClient(URL, "read-key", retry=POLICY) as client:
            for call in (
                lambda: client.query.trends("e", math="avg"),
                lambda: client.query.funnel(["only"]),
                lambda: client.stats.stickiness(where=[{"key": "k", "op": "in", "value": []}]),
                lambda: client.persons.get(""),
            ):
                with pytest.raises(InvalidRequestError) as caught:
                    await call()
                errors.append(caught.value.detail)
        return errors

    errors = run(main())
    assert "math avg needs a property" in errors[0]
    assert "at least 2 items" in errors[1]
    assert "in needs a non-empty list" in errors[2]
    assert "non-empty distinct id" in errors[3]
    assert route.call_count == 0
