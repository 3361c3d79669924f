"""The HTTP API on both dialects: ingest, limits, auth, stats parameters, idempotency."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest

from tests.conftest import Api

DAY = "2026-11-02"


def event(n: int = 0, **fields: object) -> dict[str, object]:
    return {"event": "view", "user_id": f"u{n}", "timestamp": f"{DAY}T10:00:00Z", **fields}


def dau(api: Api) -> list[int]:
    response = api.stats("dau", since="2026-11-01", until="2026-11-03")
    assert response.status_code == 200, response.text
    return [row["users"] for row in response.json()["series"]]


def all_reports(api: Api) -> list[object]:
    window = {"since": "2026-10-01", "until": "2026-11-30"}
    return [
        api.stats(report, **window).json() for report in ("dau", "wau", "mau", "top-events")
    ] + [api.stats("retention", period=p, **window).json() for p in ("day", "week", "month")]


def test_accepts_valid_events_and_reports_rejects_by_index(api: Api) -> None:
    response = api.post_events(
        [event(1), {"event": "", "user_id": "x"}, event(2), {"event": "a", "user_id": "b", "x": 1}]
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert all(r["errors"] for r in body["rejected"])
    assert dau(api) == [0, 2, 0]


def test_the_same_batches_twice_change_nothing(api: Api) -> None:
    batches = [
        [event(i, event_id=str(uuid.uuid4())) for i in range(10)],
        [event(i, event="buy") for i in range(5)],
    ]
    for batch in batches:
        assert api.post_events(batch).status_code == 202
    once = all_reports(api)
    for batch in batches:
        assert api.post_events(batch).json()["accepted"] == len(batch)
    assert all_reports(api) == once
    assert once[3]["events"] == [
        {"event": "view", "count": 10, "users": 10},
        {"event": "buy", "count": 5, "users": 5},
    ]


def test_an_event_without_id_is_a_duplicate_of_its_resent_copy(api: Api) -> None:
    api.post_events([event(1, properties={"a": 1, "b": 2})])
    api.post_events([event(1, properties={"b": 2, "a": 1}, timestamp=f"{DAY}T12:00:00+02:00")])
    top = api.stats("top-events", since=DAY, until=DAY).json()
    assert top["events"] == [{"event": "view", "count": 1, "users": 1}]


def test_gzip_bodies_are_accepted(api: Api) -> None:
    body = gzip.compress(json.dumps({"events": [event(1), event(2)]}).encode())
    response = api.client.post(
        "/v1/events",
        content=body,
        headers={
            "X-API-Key": api.ingest,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 202
    assert response.json()["accepted"] == 2


def test_too_many_events_is_413_and_nothing_is_kept(api: Api) -> None:
    response = api.post_events([event(i) for i in range(101)])  # the fixture allows 100
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert dau(api) == [0, 0, 0]


def test_a_body_over_the_byte_limit_is_413(api: Api) -> None:
    response = api.post_events([event(1, properties={"k": "x" * 30_000}) for _ in range(3)])
    assert response.status_code == 413


def test_a_gzip_bomb_is_413_without_inflating_it(api: Api) -> None:
    bomb = gzip.compress(b"[" * 50_000_000, 9)
    assert len(bomb) < 100_000
    response = api.client.post(
        "/v1/events", content=bomb, headers={"X-API-Key": api.ingest, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("content", "headers", "status", "error"),
    [
        (b"{not json", {}, 422, "invalid_batch"),
        (b'{"events": "nope"}', {}, 422, "invalid_batch"),
        (b'{"events": [], "colour": 1}', {}, 422, "invalid_batch"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, 422, "invalid_request"),
        (b'{"events": []}', {"Content-Encoding": "br"}, 415, "unsupported_media_type"),
        (
            b'{"events": []}',
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
    ],
)
def test_bad_bodies_get_clear_errors(
    api: Api, content: bytes, headers: dict[str, str], status: int, error: str
) -> None:
    response = api.client.post(
        "/v1/events", content=content, headers={"X-API-Key": api.ingest, **headers}
    )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "method", "scope_ok"),
    [
        ("/v1/events", "POST", {"ingest", "admin"}),
        ("/v1/stats/dau", "GET", {"read", "admin"}),
        ("/v1/stats/wau", "GET", {"read", "admin"}),
        ("/v1/stats/mau", "GET", {"read", "admin"}),
        ("/v1/stats/top-events", "GET", {"read", "admin"}),
        ("/v1/stats/retention", "GET", {"read", "admin"}),
    ],
)
def test_scopes(api: Api, path: str, method: str, scope_ok: set[str]) -> None:
    payload = {"events": [event(1)]} if method == "POST" else None
    for scope in ("ingest", "read", "admin"):
        key = getattr(api, scope)
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            response = api.client.request(method, path, json=payload, headers=headers)
            expected = (202 if method == "POST" else 200) if scope in scope_ok else 403
            assert response.status_code == expected, (scope, headers, response.text)
    for headers in (
        {},
        {"X-API-Key": "evana_000000000000_nope"},
        {"X-API-Key": "garbage"},
        {"Authorization": "Bearer"},
    ):
        response = api.client.request(method, path, json=payload, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"


def test_a_revoked_key_stops_at_once(api: Api) -> None:
    from evana.server._keys import KeyService

    keys = KeyService(api.client.app_state["evana"].db)  # type: ignore[attr-defined]
    created = keys.create("read")
    assert api.client.get("/v1/stats/dau", headers={"X-API-Key": created.key}).status_code == 200
    keys.revoke(created.record.key_id)
    response = api.client.get("/v1/stats/dau", headers={"X-API-Key": created.key})
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize(
    ("report", "params"),
    [
        ("dau", {"since": "2026-11-05", "until": "2026-11-01"}),
        ("dau", {"since": "last tuesday"}),
        ("dau", {"since": "30x"}),
        ("dau", {"until": "0"}),
        ("mau", {"since": "1700000000"}),
        ("dau", {"since": "2000-01-01", "until": "2026-01-01"}),
        ("top-events", {"limit": 0}),
        ("top-events", {"limit": 100000}),
        ("retention", {"periods": 0}),
        ("retention", {"periods": 100000}),
        ("retention", {"period": "year"}),
        ("retention", {"start_event": ""}),
    ],
)
def test_stats_parameters_are_validated(api: Api, report: str, params: dict[str, object]) -> None:
    response = api.stats(report, **params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["detail"]


def test_stats_defaults_and_shapes(api: Api) -> None:
    api.post_events([event(1)])
    dau_default = api.stats("dau").json()
    assert len(dau_default["series"]) == 30
    retention = api.stats(
        "retention", since="2026-11-01", until="2026-11-10", period="week", periods=4
    ).json()
    assert set(retention) == {"period", "since", "until", "cohorts"}
    assert retention["cohorts"][0] == {"cohort": DAY, "size": 1, "retained": [1, 0, None, None]}


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    assert ready.json()["queue"] == "ok"


def test_openapi_documents_the_batch_body_and_auth(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert body == {"$ref": "#/components/schemas/EventBatch"}
    assert "EventBatch" in spec["components"]["schemas"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])


def test_unknown_routes_use_the_error_shape(api: Api) -> None:
    response = api.client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
