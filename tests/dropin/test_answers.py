"""What the drop-in routes answer when evana cannot make events durable, and where the key is."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from evana.errors import QueueUnavailableError
from evana.server import Settings
from evana.server._wire import key_from_headers
from tests.conftest import Api, make_api


@pytest.fixture
def api() -> Iterator[Api]:
    yield from make_api(Settings(database_url="sqlite://"))


@pytest.mark.parametrize(
    ("path", "body", "answer"),
    [
        ("/batch/", {"batch": [{"event": "a", "distinct_id": "u"}]}, "posthog"),
        ("/v1/batch", {"batch": [{"type": "track", "event": "a", "userId": "u"}]}, "segment"),
    ],
)
def test_nothing_durable_is_503_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any], answer: str
) -> None:
    async def refuse(_batch: object) -> None:
        raise QueueUnavailableError("JetStream did not acknowledge")

    monkeypatch.setattr(api.client.app_state["evana"].queue, "publish", refuse)  # type: ignore[attr-defined]
    response = api.client.post(path, json=body, headers={"Authorization": f"Bearer {api.ingest}"})
    assert response.status_code == 503, answer
    assert int(response.headers["Retry-After"]) >= 1


def test_an_empty_batch_is_taken_and_stores_nothing(api: Api) -> None:
    response = api.client.post("/batch/", json={"api_key": api.ingest, "batch": []})
    assert (response.status_code, response.json()) == (200, {"status": 1})


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"authorization": "Bearer k1"}, "k1"),
        ({"authorization": "Basic " + base64.b64encode(b"k2:").decode()}, "k2"),
        ({"authorization": "Basic " + base64.b64encode(b"k3").decode()}, "k3"),
        ({"authorization": "Basic !!!"}, None),
        ({"x-write-key": "k4"}, "k4"),
        ({"x-api-key": "k5"}, "k5"),
        ({}, None),
    ],
)
def test_keys_in_headers(headers: dict[str, str], key: str | None) -> None:
    assert key_from_headers(headers) == key


@pytest.mark.parametrize(
    ("path", "open_to_all"),
    [
        ("/batch/", True),
        ("/e", True),
        ("/i/v0/e/", True),
        ("/flags/", True),
        ("/array/phc_x/config", True),
        ("/v1/batch", True),
        ("/v1/t", True),
        ("/v1/s", True),
        ("/v1/stats/dau", False),  # under /v1/s… but not a drop-in route
        ("/v1/events", False),
        ("/v1/keys", False),
    ],
)
def test_any_origin_only_on_the_drop_in_routes(api: Api, path: str, open_to_all: bool) -> None:
    preflight = api.client.options(
        path,
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    allowed = preflight.headers.get("access-control-allow-origin")
    assert (allowed == "https://shop.example") is open_to_all
