"""Secrets never reach the server's log output: real server processes at uvicorn's most verbose
level (``trace`` prints each request's scope), the access log included, keys sent every way a
client can send one — headers, bearer tokens, and by mistake in the query string (which the
access log prints) — and the database URL's password.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evana.server._keys import KeyService
from evana.server._storage import Database
from tests._evana import EVANA, evana_serve
from tests._services import free_port, throwaway_nats
from tests.server._pipeline import evana_worker, wait_until

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def uvicorn_factory(cwd: Path, database_url: str) -> Iterator[tuple[str, list[str]]]:
    """The production entry point (``uvicorn --factory``, as in the Dockerfile) at trace level."""
    port = free_port()
    uvicorn = os.path.join(os.path.dirname(EVANA), "uvicorn")
    factory = ["--factory", "evana.server:create_app"]
    proc = subprocess.Popen(
        [uvicorn, *factory, "--log-level", "trace", "--port", str(port)],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "EVANA_DATABASE_URL": database_url},
    )
    output: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    pump = threading.Thread(target=lambda: output.extend(stdout), daemon=True)
    pump.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        return False

    try:
        wait_until(ready, 60, "uvicorn to start")
        yield url, output
    finally:
        proc.terminate()
        proc.wait(15)
        pump.join(10)
        stdout.close()


def exercise(url: str, database_url: str) -> list[tuple[str, str]]:
    """Authenticated requests of every kind; returns (key id, secret) of every key used."""
    db = Database(database_url)
    keys = KeyService(db)
    made = {scope: keys.create(scope, "log test") for scope in ("ingest", "read", "admin")}
    revoked = keys.create("read", "revoked")
    keys.revoke(revoked.record.key_id)
    db.dispose()
    ingest, read, admin = (made[s].key for s in ("ingest", "read", "admin"))
    event = {"event": "login", "user_id": "log-user", "timestamp": "2026-11-02T10:00:00Z"}
    with httpx.Client(base_url=url, timeout=10) as client:
        calls = [
            client.post("/v1/events", json={"events": [event]}, headers={"X-API-Key": ingest}),
            client.post(
                "/v1/events",
                json={"events": [event]},
                headers={"Authorization": f"Bearer {ingest}"},
            ),
            client.get("/v1/stats/dau", headers={"X-API-Key": read}),
            client.get("/v1/stats/dau", headers={"X-API-Key": ingest}),  # 403
            client.get("/v1/stats/dau", headers={"X-API-Key": revoked.key}),  # 401
            client.get("/v1/stats/mau", params={"api_key": read}),  # a key where none belongs
            client.get("/v1/users/log-user/events", headers={"Authorization": f"Bearer {admin}"}),
            client.delete("/v1/users/log-user", headers={"X-API-Key": admin}),
            client.get("/metrics", headers={"X-API-Key": admin}),
        ]
    assert [c.status_code for c in calls] == [202, 202, 200, 403, 401, 401, 200, 200, 200]
    return [
        (created.record.key_id, secret_of(created.key)) for created in (*made.values(), revoked)
    ]


def secret_of(key: str) -> str:
    """The secret part of ``evana_<12 hex id>_<secret>`` (which may itself hold ``_``)."""
    return key[len("evana_") + 13 :]


def check_no_secret(output: str, keys: list[tuple[str, str]]) -> None:
    assert "Application startup complete" in output and "TRACE" in output  # noqa: PT018
    for key_id, secret in keys:
        assert secret not in output, f"the secret of key {key_id} is in the log"
    # The read key sent in the query string reached the access log, masked.
    read_id = keys[1][0]
    assert f'"GET /v1/stats/mau?api_key=evana_{read_id}_[redacted] HTTP/1.1" 401' in output


def test_evana_serve_logs_no_key_even_at_trace_level(tmp_path: Path) -> None:
    with evana_serve(tmp_path, args=["--log-level", "trace"]) as server:
        assert server.admin_key
        keys = exercise(server.url, f"sqlite:///{tmp_path / 'evana.db'}")
        with httpx.Client(base_url=server.url) as client:
            answer = client.get("/v1/stats/dau", headers={"X-API-Key": server.admin_key})
            assert answer.status_code == 200
    output = "".join(server.output)
    check_no_secret(output, keys)
    # The first admin key is printed once, on purpose, to the terminal that started the server
    # (not through logging): nowhere else.
    secret = secret_of(server.admin_key)
    printed = [line for line in output.splitlines() if secret in line]
    assert len(printed) == 2
    assert all(("admin key:" in line or "export EVANA_API_KEY" in line) for line in printed)


def test_uvicorn_factory_logs_no_key_even_at_trace_level(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'evana.db'}"
    with uvicorn_factory(tmp_path, database_url) as (url, output):
        keys = exercise(url, database_url)
    check_no_secret("".join(output), keys)


@pytest.mark.integration
def test_the_database_password_stays_out_of_the_log(tmp_path: Path, pg_fresh_url: str) -> None:
    # The test server trusts local connections, so any password works: a made-up one is enough.
    password = "Sup3r-s3cret-pw"
    database_url = pg_fresh_url.replace("postgres@", f"postgres:{password}@")
    assert password in database_url
    with uvicorn_factory(tmp_path, database_url) as (url, output):
        keys = exercise(url, database_url)
    text = "".join(output)
    check_no_secret(text, keys)
    assert password not in text
    assert "<AppState production" not in text  # (embedded here: no NATS)
    assert "postgres:[redacted]@" in text  # trace level printed the app state, URL masked


@pytest.mark.integration
def test_nats_credentials_stay_out_of_logs_and_answers(tmp_path: Path, pg_fresh_url: str) -> None:
    """A NATS URL may carry a password or a token. While NATS is away, the API's 503 answers
    and the key-less /readyz say where NATS is, and the API and a worker log the outage:
    none of it may show the credentials."""
    password, token = "Nats-pa55w0rd-s3cret", "Nats-t0ken-s3cret"
    port = free_port()
    servers = f"nats://drill:{password}@127.0.0.1:{port},nats://{token}@127.0.0.1:{port}"
    env = {
        "EVANA_DATABASE_URL": pg_fresh_url,
        "EVANA_NATS_URL": servers,
        "EVANA_NATS_SUBJECT_PREFIX": "creds",
        "EVANA_PUBLISH_TIMEOUT_SECONDS": "1",
    }
    answers: list[str] = []
    with contextlib.ExitStack() as stack:
        nats = stack.enter_context(contextlib.ExitStack())
        nats.enter_context(throwaway_nats(port, str(tmp_path / "nats")))
        api = stack.enter_context(evana_serve(tmp_path, env))
        worker = stack.enter_context(evana_worker(env))
        assert api.admin_key
        nats.close()  # NATS goes away
        with httpx.Client(base_url=api.url, headers={"X-API-Key": api.admin_key}) as client:
            event = {"event": "e", "user_id": "u", "timestamp": "2026-11-02T10:00:00Z"}
            refused = client.post("/v1/events", json={"events": [event]})
            assert refused.status_code == 503
            ready = client.get("/readyz")
            assert ready.status_code == 503
            answers += [refused.text, ready.text]
        wait_until(lambda: "nats_disconnected" in worker.log(), 20, "the worker to notice")
        wait_until(lambda: "nats_disconnected" in "".join(api.output), 20, "the API to notice")
    assert f"127.0.0.1:{port}" in ready.json()["detail"]["queue"]  # still says where
    text = "\n".join([*answers, "".join(api.output), worker.log()])
    assert password not in text
    assert token not in text
