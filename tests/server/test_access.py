"""Who may call what: every endpoint, every credential, both key headers, and the exposure
settings of /docs and /metrics. The matrix is checked against the app's own routes, so an
endpoint added without a row here fails the suite.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from evana.server import Settings
from evana.server._keys import KeyService
from tests.conftest import Api, make_api

PUBLIC = "public"


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str  # the path as the app declares it
    url: str  # a concrete URL of it
    scope: str  # ingest, read, admin, or PUBLIC
    ok: int = 200
    body: Any = None  # what a POST sends (default: a /v1/events batch)


_EVENT = {"event": "view", "user_id": "matrix-user", "timestamp": "2026-11-02T10:00:00Z"}

ENDPOINTS = [
    Endpoint("POST", "/v1/events", "/v1/events", "ingest", 202),
    *(
        Endpoint("GET", f"/v1/stats/{report}", f"/v1/stats/{report}", "read")
        for report in ("dau", "wau", "mau", "top-events", "retention", "stickiness", "lifecycle")
    ),
    Endpoint(
        "POST",
        "/v1/query/trends",
        "/v1/query/trends",
        "read",
        body={"since": "2026-11-01", "until": "2026-11-02", "series": [{"event": "view"}]},
    ),
    Endpoint(
        "POST",
        "/v1/query/funnel",
        "/v1/query/funnel",
        "read",
        body={
            "since": "2026-11-01",
            "until": "2026-11-02",
            "steps": [{"event": "view"}, {"event": "buy"}],
        },
    ),
    # An id never seen: the scope is checked first, so a read key alone gets as far as the 404.
    Endpoint("GET", "/v1/persons/{user_id}", "/v1/persons/nobody-at-all", "read", 404),
    Endpoint("DELETE", "/v1/users/{user_id}", "/v1/users/matrix-user", "admin"),
    Endpoint("GET", "/v1/users/{user_id}/events", "/v1/users/matrix-user/events", "admin"),
    Endpoint("POST", "/v1/keys", "/v1/keys", "admin", 201),
    Endpoint("GET", "/v1/keys", "/v1/keys", "admin"),
    # An unknown id: the scope is checked first, so an admin key alone gets as far as the 404.
    Endpoint("DELETE", "/v1/keys/{key_id}", "/v1/keys/000000000000", "admin", 404),
    Endpoint("GET", "/v1/status", "/v1/status", "admin"),
    Endpoint("GET", "/v1/events/recent", "/v1/events/recent", "admin"),
    Endpoint("GET", "/v1/stats/events", "/v1/stats/events", "read"),
    Endpoint("GET", "/v1/dlq", "/v1/dlq", "admin"),
    # Embedded mode has no dead-letter queue: an admin gets 404, anyone else 401/403 first.
    Endpoint("GET", "/v1/dlq/{entry_id}", "/v1/dlq/1", "admin", 404),
    Endpoint("POST", "/v1/dlq/{entry_id}/replay", "/v1/dlq/1/replay", "admin", 404),
    # The dashboard: its pages need a session cookie, never a key header (tests/dashboard).
    Endpoint("GET", "/", "/", PUBLIC),  # a redirect to the sign-in page, followed
    Endpoint("GET", "/signin", "/signin", PUBLIC),
    Endpoint("GET", "/dashboard/session", "/dashboard/session", PUBLIC, 401),
    Endpoint("POST", "/dashboard/session", "/dashboard/session", PUBLIC, 422),  # no "key"
    Endpoint("DELETE", "/dashboard/session", "/dashboard/session", PUBLIC, 204),
    Endpoint("GET", "/metrics", "/metrics", PUBLIC),
    Endpoint("GET", "/healthz", "/healthz", PUBLIC),
    Endpoint("GET", "/readyz", "/readyz", PUBLIC),
    Endpoint("GET", "/docs", "/docs", PUBLIC),
    Endpoint("GET", "/redoc", "/redoc", PUBLIC),
    Endpoint("GET", "/openapi.json", "/openapi.json", PUBLIC),
]

# The drop-in routes of PostHog's and Segment's SDKs (their keys may also sit in the body: see
# tests/dropin). posthog-js's start-up calls are public: they answer that nothing is on.
_POSTHOG_EVENT = {"event": "view", "distinct_id": "matrix-user"}
_PIXEL = base64.b64encode(json.dumps(_POSTHOG_EVENT).encode()).decode()
for _path in ("/batch", "/e", "/i/v0/e", "/capture"):
    for _route in (_path, f"{_path}/"):
        ENDPOINTS += [
            Endpoint("POST", _route, _route, "ingest", body={"batch": [_POSTHOG_EVENT]}),
            Endpoint("GET", _route, f"{_route}?data={_PIXEL}", "ingest"),
        ]
for _route in ("/flags", "/flags/", "/decide", "/decide/"):
    ENDPOINTS += [Endpoint(m, _route, _route, PUBLIC) for m in ("GET", "POST")]
ENDPOINTS += [
    Endpoint("GET", "/array/{token}/config", "/array/phc_x/config", PUBLIC),
    Endpoint("GET", "/array/{token}/config.js", "/array/phc_x/config.js", PUBLIC),
    Endpoint("POST", "/v1/batch", "/v1/batch", "ingest", body={"batch": []}),
    Endpoint("POST", "/v1/b", "/v1/b", "ingest", body={"batch": []}),
    *(
        Endpoint("POST", f"/v1/{kind}", f"/v1/{kind}", "ingest", body={"userId": "matrix-user"})
        for kind in ("track", "page", "screen", "identify", "alias", "group", *"tpsiag")
    ),
]

SCOPES = ("ingest", "read", "admin")
BAD = ("missing", "unknown", "malformed", "revoked-ingest", "revoked-read", "revoked-admin")
STYLES = ("x-api-key", "bearer")


@dataclass
class Keys:
    api: Api
    by_name: dict[str, str | None]

    def headers(self, credential: str, style: str) -> dict[str, str]:
        key = self.by_name[credential]
        if key is None:
            return {}
        return {"X-API-Key": key} if style == "x-api-key" else {"Authorization": f"Bearer {key}"}


def keys_of(api: Api) -> Keys:
    service = KeyService(api.client.app_state["evana"].db)  # type: ignore[attr-defined]
    by_name: dict[str, str | None] = {
        "missing": None,
        "unknown": "evana_0123456789ab_" + "x" * 40,
        "malformed": "not-an-evana-key",
        "ingest": api.ingest,
        "read": api.read,
        "admin": api.admin,
    }
    for scope in SCOPES:
        created = service.create(scope, f"revoked {scope}")
        service.revoke(created.record.key_id)
        by_name[f"revoked-{scope}"] = created.key
    return Keys(api, by_name)


def expected(endpoint: Endpoint, credential: str) -> int:
    if endpoint.scope == PUBLIC:
        return endpoint.ok
    if credential in BAD:
        return 401
    return endpoint.ok if credential in (endpoint.scope, "admin") else 403


def call(client: httpx.Client, endpoint: Endpoint, headers: dict[str, str]) -> httpx.Response:
    body: Any = None
    if endpoint.method == "POST":
        body = {"scope": "ingest"} if endpoint.route == "/v1/keys" else {"events": [_EVENT]}
        body = endpoint.body or body
    return client.request(endpoint.method, endpoint.url, json=body, headers=headers)


def declared_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path) of every route: the operations of the OpenAPI schema (which the app
    builds even when it does not serve it) plus the docs pages, which are plain routes."""
    app = api.client.app  # type: ignore[attr-defined]
    routes = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    for route in _routes(app.routes):
        if isinstance(route, Route) and not route.include_in_schema:
            routes |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return routes


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, those of included routers too (FastAPI >= 0.165 keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from _routes(nested.routes)
        else:
            yield route


def run_matrix(api: Api, endpoints: list[Endpoint]) -> int:
    """Every endpoint, credential and header style; returns how many requests it made."""
    keys = keys_of(api)
    failures, count = [], 0
    for endpoint, credential, style in itertools.product(endpoints, (*BAD, *SCOPES), STYLES):
        if credential == "missing" and style == "bearer":
            continue  # no key is no key, whatever the header
        response = call(api.client, endpoint, keys.headers(credential, style))
        count += 1
        want = expected(endpoint, credential)
        if response.status_code != want:
            failures.append(
                (endpoint.method, endpoint.url, credential, style, response.status_code)
            )
        elif want in (401, 403):
            code = "unauthorized" if want == 401 else "forbidden"
            assert response.json()["error"] == code, response.text
    assert not failures, f"{len(failures)} of {count} cells differ: {failures[:10]}"
    return count


def test_every_endpoint_every_credential(api: Api) -> None:
    # The matrix covers the app exactly: a new route without a row here fails this test.
    assert declared_routes(api) == {(e.method, e.route) for e in ENDPOINTS}
    cells = run_matrix(api, ENDPOINTS)
    assert cells == len(ENDPOINTS) * (len(BAD) + len(SCOPES)) * len(STYLES) - len(ENDPOINTS)


@pytest.fixture
def api_with(request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(Settings(database_url="sqlite://", **request.param))


@pytest.mark.parametrize("api_with", [{"metrics_access": "key"}], indirect=True)
def test_metrics_behind_a_read_key(api_with: Api) -> None:
    metrics = [e for e in ENDPOINTS if e.url == "/metrics"]
    run_matrix(api_with, [Endpoint("GET", "/metrics", "/metrics", "read")])
    assert (
        "evana_events_accepted_total"
        in api_with.client.get(
            "/metrics", headers={"Authorization": f"Bearer {api_with.read}"}
        ).text
    )
    assert metrics  # the default (public) row above is what this setting changes


@pytest.mark.parametrize(
    ("api_with", "hidden"),
    [
        ({"metrics_access": "off"}, {"/metrics"}),
        ({"docs_enabled": False}, {"/docs", "/redoc", "/openapi.json"}),
    ],
    indirect=["api_with"],
)
def test_exposure_settings_hide_endpoints(api_with: Api, hidden: set[str]) -> None:
    for url in hidden:
        for key in (None, api_with.admin):
            headers = {"X-API-Key": key} if key else {}
            response = api_with.client.get(url, headers=headers)
            assert response.status_code == 404, url
            assert response.json()["error"] == "not_found"
    # Everything else answers as before.
    remaining = [e for e in ENDPOINTS if e.url not in hidden]
    assert declared_routes(api_with) == {(e.method, e.route) for e in remaining}
    run_matrix(api_with, remaining)


def test_the_defaults_expose_docs_and_metrics_without_a_key() -> None:
    settings = Settings(database_url="sqlite://")
    assert (settings.docs_enabled, settings.metrics_access) == (True, "public")
    assert settings.cors_origins == []
    assert settings.rate_limit is None  # embedded mode: no rate limit unless asked for
