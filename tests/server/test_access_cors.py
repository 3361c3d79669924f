"""CORS: off by default (browsers get no permission); on for the origins in EVANA_CORS_ORIGINS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evana.server import Settings
from tests.conftest import Api, make_api

APP = "https://app.example"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "x-api-key, content-type, content-encoding",
}


@pytest.fixture
def cors_api(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(Settings(database_url="sqlite://", cors_origins=request.param))


def ingest_from(api: Api, origin: str) -> dict[str, str]:
    answer = api.client.post(
        "/v1/events",
        json={"events": [{"event": "view", "user_id": "browser"}]},
        headers={"X-API-Key": api.ingest, "Origin": origin},
    )
    assert answer.status_code == 202  # CORS is the browser's rule: the server still answers
    return dict(answer.headers)


@pytest.mark.parametrize("cors_api", [[]], indirect=True)
def test_off_by_default(cors_api: Api) -> None:
    preflight = cors_api.client.options("/v1/events", headers=PREFLIGHT)
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in ingest_from(cors_api, APP)


@pytest.mark.parametrize("cors_api", [[APP, "https://admin.example"]], indirect=True)
def test_listed_origins_only(cors_api: Api) -> None:
    preflight = cors_api.client.options("/v1/events", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP
    allowed = {
        h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")
    }
    assert {"x-api-key", "content-type", "content-encoding", "authorization"} <= allowed
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers  # keys, not cookies
    assert ingest_from(cors_api, APP)["access-control-allow-origin"] == APP
    # A 429 or 503 must be readable too, or the SDK in a browser could not wait it out.
    assert "retry-after" in ingest_from(cors_api, APP)["access-control-expose-headers"].lower()

    other = cors_api.client.options(
        "/v1/events", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in ingest_from(cors_api, "https://evil.example")


@pytest.mark.parametrize("cors_api", [["*"]], indirect=True)
def test_any_origin(cors_api: Api) -> None:
    preflight = cors_api.client.options(
        "/v1/events", headers={**PREFLIGHT, "Origin": "https://x.example"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    # Keys are still checked: CORS grants a page the right to ask, not an answer.
    answer = cors_api.client.get("/v1/stats/dau", headers={"Origin": "https://x.example"})
    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == "*"


def test_the_setting_reads_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVANA_CORS_ORIGINS", f" {APP} ,https://admin.example,")
    assert Settings().cors_origins == [APP, "https://admin.example"]
    monkeypatch.setenv("EVANA_CORS_ORIGINS", "")
    assert Settings().cors_origins == []
