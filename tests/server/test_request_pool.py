"""A key's lookup reads the database, so it runs in the request pool, never on the event
loop: a slow database must not stall the requests that need none (``/healthz``, ingest
into the queue)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from evana._settings import Settings
from evana.server._keys import KeyService
from evana.server._storage import KeyRecord
from tests.conftest import Api, make_api


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that looked keys up."""
    names: list[str] = []
    authenticate = KeyService.authenticate

    def spy(self: KeyService, key: str | None) -> KeyRecord:
        names.append(threading.current_thread().name)
        return authenticate(self, key)

    monkeypatch.setattr(KeyService, "authenticate", spy)
    return names


@pytest.fixture
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("pool") / "evana.db"
    yield from make_api(Settings(database_url=f"sqlite:///{path}"))


def test_keys_are_looked_up_in_the_request_pool(app: Api, threads: list[str]) -> None:
    event = {"event": "signup", "distinct_id": "u1", "timestamp": "2026-11-02T09:15:00Z"}
    answers = [
        app.stats("dau", since="2026-11-01", until="2026-11-02"),
        app.client.post(
            "/v1/query/trends",
            json={"since": "2026-11-01", "until": "2026-11-02", "series": [{"event": "x"}]},
            headers={"X-API-Key": app.read},
        ),
        app.post_events([{"event": "signup", "user_id": "u1"}]),
        # PostHog's SDKs put the key in the body, read after the request's headers.
        app.client.post("/batch/", json={"api_key": app.ingest, "batch": [event]}),
        app.client.post(
            "/batch/", json={"batch": [event]}, headers={"Authorization": f"Bearer {app.ingest}"}
        ),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 202, 200, 200]
    assert len(threads) == 5
    assert all(name.startswith("evana-request") for name in threads), threads
