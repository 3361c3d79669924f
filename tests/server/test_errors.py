"""Every error answer has one shape, ``{"error": code, "detail": sentence, "errors": [...]}``,
whoever raised it (evana, FastAPI's parameter validation, Starlette's routing), and report
dates take the same forms as the SDK and the CLI."""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable

import httpx
import pytest

from evana.client import parse_date
from tests.conftest import Api

Call = Callable[[Api], httpx.Response]

CASES: list[tuple[str, int, Call]] = [
    ("no key", 401, lambda a: a.client.get("/v1/stats/dau")),
    ("unknown key", 401, lambda a: a.client.get("/v1/stats/dau", headers={"X-API-Key": "x"})),
    ("wrong scope", 403, lambda a: a.client.get("/v1/stats/dau", headers=_key(a.ingest))),
    ("no route", 404, lambda a: a.client.get("/v1/nope", headers=_key(a.admin))),
    ("no such key", 404, lambda a: a.client.delete("/v1/keys/nope", headers=_key(a.admin))),
    ("wrong method", 405, lambda a: a.client.get("/v1/events", headers=_key(a.admin))),
    ("wrong method, users", 405, lambda a: a.client.put("/v1/users/u", headers=_key(a.admin))),
    (
        "too many events",
        413,
        lambda a: a.post_events([{"event": "e", "user_id": "u"}] * 101),
    ),
    (
        "body too big",
        413,
        lambda a: a.client.post(
            "/v1/events",
            content=gzip.compress(b" " * 70_000),
            headers={**_key(a.ingest), "Content-Encoding": "gzip"},
        ),
    ),
    (
        "not json",
        415,
        lambda a: a.client.post(
            "/v1/events", content=b"x", headers={**_key(a.ingest), "Content-Type": "text/csv"}
        ),
    ),
    ("bad envelope", 422, lambda a: a.client.post("/v1/events", json={}, headers=_key(a.ingest))),
    ("bad body", 422, lambda a: a.client.post("/v1/events", content=b"{", headers=_key(a.ingest))),
    ("bad date", 422, lambda a: a.stats("dau", since="last tuesday")),
    ("since after until", 422, lambda a: a.stats("dau", since="2026-11-10", until="2026-11-01")),
    ("parameter type", 422, lambda a: a.stats("retention", periods="many", period="year")),
    ("parameter range", 422, lambda a: a.stats("top-events", limit=0)),
    ("user id", 422, lambda a: a.client.delete("/v1/users/a%00b", headers=_key(a.admin))),
]


def _key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.mark.parametrize(
    ("status", "call"), [(s, c) for _, s, c in CASES], ids=[n for n, *_ in CASES]
)
def test_every_error_answer_has_one_shape(api: Api, status: int, call: Call) -> None:
    """Before: ``detail`` was a string for some errors and a list for others."""
    answer = call(api)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "detail", "errors"}, body
    assert isinstance(body["error"], str) and body["error"]  # noqa: PT018
    assert isinstance(body["detail"], str) and body["detail"]  # noqa: PT018
    assert isinstance(body["errors"], list) and body["errors"]  # noqa: PT018
    assert all(isinstance(e, str) for e in body["errors"])
    assert body["detail"] == "; ".join(body["errors"])


def test_several_problems_are_listed_one_by_one(api: Api) -> None:
    body = api.stats("retention", periods="many", period="year").json()
    assert len(body["errors"]) == 2
    assert body["errors"][0].startswith("period: ")
    assert body["errors"][1].startswith("periods: ")


@pytest.mark.parametrize("value", ["today", "yesterday", "30d", "12w", "3m", "1y", "2026-11-02"])
def test_the_api_takes_every_date_form_of_the_sdk_and_the_cli(api: Api, value: str) -> None:
    """Before: the API refused ``today`` and ``30d``, which the SDK and the CLI accept."""
    answer = api.stats("dau", since=value, until="today")
    assert answer.status_code == 200, answer.text
    today = dt.datetime.now(dt.UTC).date()
    assert answer.json()["since"] == parse_date(value).isoformat()
    assert answer.json()["until"] == today.isoformat()
    assert api.stats("top-events", since=value).status_code == 200
    assert api.stats("retention", since=value, period="month").status_code == 200
    per_day = api.stats("events", since=value)
    assert per_day.status_code == 200, per_day.text


def test_a_bad_date_names_the_accepted_forms(api: Api) -> None:
    detail = api.stats("wau", until="next week").json()["detail"]
    assert detail.startswith("until: cannot read 'next week' as a date")
    for form in ("'YYYY-MM-DD'", "'today'", "'30d'", "'12w'", "'3m'", "'1y'"):
        assert form in detail


@pytest.mark.parametrize(("period", "periods"), [("month", 400), ("week", 400), ("day", 400)])
def test_retention_defaults_are_always_a_valid_range(api: Api, period: str, periods: int) -> None:
    """Before: ``period=month&periods=400`` without ``since`` was a 422 for its own default
    range (400 months is over the longest range a report may span)."""
    answer = api.stats("retention", period=period, periods=periods)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    since, until = dt.date.fromisoformat(body["since"]), dt.date.fromisoformat(body["until"])
    assert (until - since).days + 1 <= 3660
    if period == "month":
        assert since.day == 1
        assert (until - since).days > 3600  # as many periods back as fit
