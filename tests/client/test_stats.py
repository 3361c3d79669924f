"""``client.stats``: query parameters from friendly dates, typed answers, mapped errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
import respx

import evana
from evana.client import RetryPolicy
from evana.errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    PermissionDeniedError,
)
from evana.schema import ActiveUsers, Retention, TopEvents

from .conftest import URL


@pytest.fixture
def client() -> Iterator[evana.Client]:
    policy = RetryPolicy(base_delay=0.001, max_delay=0.01, budget=2)
    with evana.Client(URL, "read-key", retry=policy) as c:
        yield c


def params(route: respx.Route) -> dict[str, str]:
    return dict(route.calls.last.request.url.params)


def test_active_users_with_a_span_and_a_date(api: respx.MockRouter, client: evana.Client) -> None:
    today = dt.datetime.now(dt.UTC).date()
    body = {
        "since": "2026-11-01",
        "until": "2026-11-02",
        "series": [{"date": "2026-11-01", "users": 3}, {"date": "2026-11-02", "users": 0}],
    }
    for kind in ("dau", "wau", "mau"):
        route = api.get(f"/v1/stats/{kind}").respond(200, json=body)
        report = getattr(client.stats, kind)(since="30d", until=dt.date(2026, 11, 2))
        assert isinstance(report, ActiveUsers)
        assert report.series[0].users == 3
        assert params(route) == {"since": str(today - dt.timedelta(days=29)), "until": "2026-11-02"}
        assert route.calls.last.request.headers["x-api-key"] == "read-key"
    route = api.get("/v1/stats/dau").respond(200, json=body)
    client.stats.dau()
    assert params(route) == {}  # the server's defaults


def test_top_events_and_retention(api: respx.MockRouter, client: evana.Client) -> None:
    top = api.get("/v1/stats/top-events").respond(
        200,
        json={
            "since": "2026-11-01",
            "until": "2026-11-30",
            "events": [{"event": "view", "count": 10, "users": 4}],
        },
    )
    report = client.stats.top_events(since="2026-11-01", until="2026-11-30", limit=3)
    assert isinstance(report, TopEvents)
    assert report.events[0].count == 10
    assert params(top) == {"since": "2026-11-01", "until": "2026-11-30", "limit": "3"}
    retention = api.get("/v1/stats/retention").respond(
        200,
        json={
            "period": "week",
            "since": "2026-11-02",
            "until": "2026-11-16",
            "cohorts": [{"cohort": "2026-11-02", "size": 2, "retained": [2, 1, None]}],
        },
    )
    report2 = client.stats.retention(
        since="2026-11-02",
        until="2026-11-16",
        period="week",
        periods=3,
        start_event="signup",
        return_event="purchase",
    )
    assert isinstance(report2, Retention)
    assert report2.cohorts[0].retained == [2, 1, None]
    assert params(retention) == {
        "since": "2026-11-02",
        "until": "2026-11-16",
        "period": "week",
        "periods": "3",
        "start_event": "signup",
        "return_event": "purchase",
    }


def test_bad_arguments_fail_before_any_request(api: respx.MockRouter, client: evana.Client) -> None:
    route = api.get(url__regex=r".*")
    with pytest.raises(ConfigurationError, match="period"):
        client.stats.retention(period="year")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="30d"):
        client.stats.dau(since="last month")
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"error": "unauthorized", "detail": "unknown key"}, AuthenticationError),
        (403, {"error": "forbidden", "detail": "needs scope read"}, PermissionDeniedError),
        (
            422,
            {"error": "invalid_request", "detail": "since: bad", "errors": ["since: bad"]},
            InvalidRequestError,
        ),
    ],
)
def test_error_answers_become_evana_errors(
    api: respx.MockRouter, client: evana.Client, status: int, body: object, error: type[APIError]
) -> None:
    route = api.get("/v1/stats/dau").respond(status, json=body)
    with pytest.raises(error) as caught:
        client.stats.dau()
    assert caught.value.detail == body["detail"]  # type: ignore[index]
    assert route.call_count == 1


def test_an_error_list_of_an_older_server_reads_as_one_sentence(
    api: respx.MockRouter, client: evana.Client
) -> None:
    body = {"error": "invalid_request", "detail": ["since: bad", "until: bad"]}
    api.get("/v1/stats/dau").respond(422, json=body)
    with pytest.raises(InvalidRequestError) as caught:
        client.stats.dau()
    assert caught.value.detail == "since: bad; until: bad"


def test_reads_are_retried_like_batches(api: respx.MockRouter, client: evana.Client) -> None:
    route = api.get("/v1/stats/mau")
    route.side_effect = [
        httpx.ConnectError("refused"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, json={"since": "2026-11-01", "until": "2026-11-01", "series": []}),
    ]
    assert client.stats.mau().series == []
    assert route.call_count == 3


def test_an_answer_of_another_shape_is_an_api_error(
    api: respx.MockRouter, client: evana.Client
) -> None:
    api.get("/v1/stats/dau").respond(200, text="<html>login</html>")
    with pytest.raises(APIError, match="does not match ActiveUsers"):
        client.stats.dau()
