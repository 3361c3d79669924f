"""Dashboard sessions: a read or admin key for an HttpOnly, SameSite=Strict cookie that the API
accepts instead of a key header, with a CSRF token on unsafe methods; pages and headers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from evana.server._dashboard._headers import DASHBOARD_CSP, DOCS_CSP
from evana.server._dashboard._session import SESSION_COOKIE, SESSION_SECONDS, issue
from evana.server._keys import KeyService
from tests.conftest import Api


def sign_in(api: Api, key: str) -> dict[str, str]:
    response = api.client.post("/dashboard/session", json={"key": key})
    assert response.status_code == 200, response.text
    return response.json()


def keys_of(client: Any) -> KeyService:
    return KeyService(client.app_state["evana"].db)


@pytest.mark.parametrize("scope", ["read", "admin"])
def test_a_key_becomes_a_strict_httponly_cookie(api: Api, scope: str) -> None:
    key = api.read if scope == "read" else api.admin
    response = api.client.post("/dashboard/session", json={"key": key})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", f"Max-Age={SESSION_SECONDS}"):
        assert attribute.lower() in cookie.lower(), cookie
    assert key[len("evana_") + 13 :] not in cookie  # nothing of the key's secret
    assert key not in response.text
    body = response.json()
    assert body["scope"] == scope
    assert body["csrf"]
    # The cookie alone now reads the API, and says who it is.
    assert api.client.get("/v1/stats/dau").status_code == 200
    assert api.client.get("/dashboard/session").json() == body


def test_ingest_and_unknown_keys_cannot_sign_in(api: Api) -> None:
    ingest = api.client.post("/dashboard/session", json={"key": api.ingest})
    assert ingest.status_code == 403
    assert "cannot sign in" in ingest.json()["detail"]
    assert "set-cookie" not in ingest.headers
    assert api.client.post("/dashboard/session", json={"key": "evana_nope"}).status_code == 401
    assert api.client.get("/dashboard/session").status_code == 401
    assert api.client.get("/v1/stats/dau").status_code == 401


def test_sign_in_takes_json_only(api: Api) -> None:
    # A cross-site form can post text/plain without a preflight; JSON it cannot.
    response = api.client.post(
        "/dashboard/session",
        content=f'{{"key": "{api.read}"}}',
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code in (415, 422)
    assert "set-cookie" not in response.headers


def test_unsafe_methods_need_the_csrf_token(api: Api) -> None:
    session = sign_in(api, api.admin)
    assert api.client.delete("/v1/users/someone").status_code == 403
    wrong = api.client.delete("/v1/users/someone", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    assert "X-CSRF-Token" in wrong.json()["detail"]
    ok = api.client.delete("/v1/users/someone", headers={"X-CSRF-Token": session["csrf"]})
    assert ok.status_code == 200
    # A key header needs no token (scripts have no cookie to be tricked with).
    api.client.cookies.clear()
    assert api.client.delete("/v1/users/a", headers={"X-API-Key": api.admin}).status_code == 200


def test_a_read_session_is_denied_admin_routes(api: Api) -> None:
    session = sign_in(api, api.read)
    csrf = {"X-CSRF-Token": session["csrf"]}
    assert api.client.delete("/v1/users/someone", headers=csrf).status_code == 403
    assert api.client.get("/v1/dlq").status_code == 403
    assert api.client.get("/v1/users/someone/events").status_code == 403


def test_a_key_header_wins_over_the_cookie(api: Api) -> None:
    sign_in(api, api.read)
    assert api.client.get("/v1/dlq").status_code == 403
    assert api.client.get("/v1/dlq", headers={"X-API-Key": api.admin}).status_code == 200
    assert api.client.get("/v1/dlq", headers={"X-API-Key": "evana_bad"}).status_code == 401


def test_forged_expired_and_revoked_sessions_are_refused(api: Api) -> None:
    service = keys_of(api.client)
    created = service.create("admin", "to revoke")
    sign_in(api, created.key)
    good = api.client.cookies[SESSION_COOKIE]
    key_id, expires, nonce, signature = good.split(".")
    forged = [
        f"{key_id}.{int(expires) + 3600}.{nonce}.{signature}",  # a longer life
        f"{key_id}.{expires}.{nonce}.{signature[:-2]}AA",
        "garbage",
        f"{service.create('admin').record.key_id}.{expires}.{nonce}.{signature}",  # another key
    ]
    for value in forged:
        api.client.cookies.set(SESSION_COOKIE, value)
        assert api.client.get("/v1/stats/dau").status_code == 401, value
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=SESSION_SECONDS + 1)
    expired, _ = issue(created.record, now=past)
    api.client.cookies.set(SESSION_COOKIE, expired)
    assert "expired" in api.client.get("/v1/stats/dau").json()["detail"]
    api.client.cookies.set(SESSION_COOKIE, good)
    assert api.client.get("/v1/stats/dau").status_code == 200
    service.revoke(created.record.key_id)  # revoking the key ends its sessions at once
    assert api.client.get("/v1/stats/dau").status_code == 401


def test_sessions_hold_across_replicas_sharing_a_database(tmp_path: Path) -> None:
    # Signed with the key's stored hash: another API on the same database verifies it.
    from fastapi.testclient import TestClient

    from evana.server import Settings, create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'shared.db'}")
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        key = keys_of(one).create("read").key
        assert one.post("/dashboard/session", json={"key": key}).status_code == 200
        two.cookies.set(SESSION_COOKIE, one.cookies[SESSION_COOKIE])
        assert two.get("/v1/stats/dau").status_code == 200


def test_sign_out_forgets_the_cookie(api: Api) -> None:
    sign_in(api, api.read)
    response = api.client.delete("/dashboard/session")
    assert response.status_code == 204
    assert 'evana_session=""' in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert api.client.get("/v1/stats/dau").status_code == 401


def test_pages_need_a_session_and_carry_a_strict_policy(api: Api) -> None:
    first = api.client.get("/", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/signin"
    signin = api.client.get("/signin")
    assert signin.headers["content-security-policy"] == DASHBOARD_CSP
    assert "<script" not in signin.text.replace('<script type="module" src=', "")
    sign_in(api, api.read)
    page = api.client.get("/", follow_redirects=False)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DASHBOARD_CSP
    assert page.headers["x-frame-options"] == "DENY"
    assert "unsafe-inline" not in DASHBOARD_CSP
    assert "unsafe-eval" not in DASHBOARD_CSP + DOCS_CSP
    (script,) = re.findall(r'src="(/dashboard/static/[0-9a-f]{12}/js/app\.js)"', page.text)
    asset = api.client.get(script)
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]
    assert api.client.get("/docs").headers["content-security-policy"] == DOCS_CSP
    # Nothing in any page or module names another host.
    for path in ("/", "/signin", "/docs", "/redoc", script.replace("js/app.js", "app.css")):
        text = api.client.get(path).text
        assert "http://" not in text
        assert "https://" not in text, path
