"""Queries that break DESIGN.md's rules answer 422 in the app's one error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

BASE: dict[str, Any] = {"since": "2026-11-02", "until": "2026-11-08"}

BAD_FILTERS: list[Any] = [
    {"key": "p", "op": "like", "value": "x"},  # unknown op
    {"key": "p", "op": "gt", "value": "5"},  # not a number
    {"key": "p", "op": "gt", "value": True},  # booleans are not numbers
    {"key": "p", "op": "in", "value": "x"},  # not a list
    {"key": "p", "op": "in", "value": []},
    {"key": "p", "op": "eq", "value": None},  # null: use is_set/is_not_set
    {"key": "p", "op": "eq"},
    {"key": "p", "op": "contains", "value": 5},
    {"key": "p", "op": "is_set", "value": 1},
    {"key": "", "op": "eq", "value": 1},
    {"op": "eq", "value": 1},
    {"key": "p", "op": "eq", "value": 1, "extra": 1},
    "p = 1",
]


def post(api: Api, kind: str, body: Any) -> Any:
    return api.client.post(f"/v1/query/{kind}", json=body, headers={"X-API-Key": api.read})


def assert_422(response: Any) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["detail"]
    assert body["errors"]


@pytest.mark.parametrize("bad", BAD_FILTERS)
def test_a_bad_filter_is_422_everywhere(api: Api, bad: Any) -> None:
    assert_422(post(api, "trends", {**BASE, "series": [{"where": [bad]}]}))
    steps = [{"event": "a", "where": [bad]}, {"event": "b"}]
    assert_422(post(api, "funnel", {**BASE, "steps": steps}))
    for report in ("dau", "wau", "mau", "top-events", "retention", "stickiness", "lifecycle"):
        assert_422(api.stats(report, where=json.dumps([bad])))


@pytest.mark.parametrize("where", ["not json", "{", '{"key": "p", "op": "is_set"}', "5", "null"])
def test_where_must_be_a_json_list(api: Api, where: str) -> None:
    for report in ("dau", "top-events", "retention", "stickiness", "lifecycle"):
        assert_422(api.stats(report, where=where))


@pytest.mark.parametrize(
    "body",
    [
        {**BASE, "series": [{"math": "mode"}]},  # unknown math
        {**BASE, "series": [{"math": "sum"}]},  # property math without a property
        {**BASE, "series": [{"math": "p90", "property": ""}]},
        {**BASE, "series": [{"event": "a"}] * 11},  # over 10 series
        {**BASE, "series": []},
        {**BASE, "series": [{}], "interval": "hour"},
        {**BASE, "series": [{}], "breakdown_limit": 0},
        {**BASE, "series": [{}], "breakdown": ""},
        {"since": "2026-11-08", "until": "2026-11-02", "series": [{}]},  # since > until
        {"since": "2026-11-02", "series": [{}]},
        {**BASE, "series": [{}], "colour": "red"},
    ],
)
def test_bad_trends_are_422(api: Api, body: Any) -> None:
    assert_422(post(api, "trends", body))


@pytest.mark.parametrize(
    "body",
    [
        {**BASE, "steps": [{"event": "a"}]},  # one step
        {**BASE, "steps": [{"event": "a"}] * 11},
        {**BASE, "steps": [{"event": "a"}, {}]},  # a step needs its event
        {**BASE, "steps": [{"event": "a"}, {"event": "b"}], "window": {"value": 366}},
        {**BASE, "steps": [{"event": "a"}, {"event": "b"}], "window": {"value": 1, "unit": "s"}},
        {**BASE, "steps": [{"event": "a"}, {"event": "b"}], "order": "strict"},
        {"since": "2026-11-08", "until": "2026-11-02", "steps": [{"event": "a"}, {"event": "b"}]},
    ],
)
def test_bad_funnels_are_422(api: Api, body: Any) -> None:
    assert_422(post(api, "funnel", body))


def test_bad_report_parameters_are_422(api: Api) -> None:
    assert_422(api.stats("stickiness", since="2026-11-08", until="2026-11-02"))
    assert_422(api.stats("lifecycle", period="hour"))
    assert_422(api.stats("retention", type="sometimes"))
    assert_422(api.stats("retention", cumulative="maybe"))
    assert_422(api.stats("lifecycle", since="2000-01-01", until="2026-11-02"))
