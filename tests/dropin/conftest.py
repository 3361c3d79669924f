"""A real ``evana serve`` per path — embedded (SQLite, in-process writes) and production
(PostgreSQL + NATS JetStream + ``evana worker``) — with keys, and what it stored."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from evana.server._storage import Database
from tests._evana import evana_serve, run_evana
from tests._services import temporary_database
from tests.conftest import delete_nats_prefix
from tests.server._pipeline import evana_worker, wait_until


@dataclass(frozen=True)
class Row:
    """A stored event, the same on both databases."""

    event_id: uuid.UUID
    event: str
    user_id: str
    timestamp: dt.datetime
    properties: dict[str, Any] | None


@dataclass
class Target:
    """A running evana, its keys, and its database."""

    name: str
    url: str
    db_url: str
    ingest: str
    read: str
    admin: str

    def rows(self, user_prefix: str) -> list[Row]:
        """Stored events of users whose id starts with ``user_prefix``, oldest first."""
        db = Database(self.db_url)
        try:
            with db.read() as conn:
                found = conn.execute(
                    text(
                        "SELECT event_id, event, user_id, timestamp, properties FROM events"
                        " WHERE user_id LIKE :p"
                    ),
                    {"p": f"{user_prefix}%"},
                ).all()
        finally:
            db.dispose()
        rows = [
            Row(
                uuid.UUID(str(r.event_id)),
                r.event,
                r.user_id,
                stamp(r.timestamp),
                json.loads(r.properties) if isinstance(r.properties, str) else r.properties,
            )
            for r in found
        ]
        return sorted(rows, key=lambda r: (r.timestamp, r.event, r.user_id))

    def wait_rows(self, user_prefix: str, count: int, timeout: float = 30) -> list[Row]:
        """The rows of :meth:`rows` once there are ``count`` (the worker writes in its time)."""
        wait_until(lambda: len(self.rows(user_prefix)) >= count, timeout, f"{count} rows")
        rows = self.rows(user_prefix)
        assert len(rows) == count, rows
        return rows

    def report(self, name: str, **params: Any) -> Any:
        answer = httpx.get(
            f"{self.url}/v1/stats/{name}",
            params=params,
            headers={"X-API-Key": self.read},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


def stamp(value: Any) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime (SQLite returns naive ones)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _keys(db_url: str) -> tuple[str, str]:
    made = []
    for scope in ("ingest", "read"):
        done = run_evana(
            "keys",
            "create",
            "--scope",
            scope,
            "--format",
            "json",
            env={"EVANA_DATABASE_URL": db_url},
        )
        assert done.returncode == 0, done.stderr
        made.append(json.loads(done.stdout)["key"])
    return made[0], made[1]


@contextlib.contextmanager
def _embedded(workdir: Any) -> Iterator[Target]:
    db_url = f"sqlite:///{workdir}/evana.db"
    with evana_serve(workdir, {"EVANA_DATABASE_URL": db_url}) as server:
        assert server.admin_key
        ingest, read = _keys(db_url)
        yield Target("embedded", server.url, db_url, ingest, read, server.admin_key)


@contextlib.contextmanager
def _production(workdir: Any, pg_server: str, nats_url: str) -> Iterator[Target]:
    prefix = f"evtest_{uuid.uuid4().hex[:12]}"
    with temporary_database(pg_server) as db_url:
        env = {
            "EVANA_DATABASE_URL": db_url,
            "EVANA_NATS_URL": nats_url,
            "EVANA_NATS_SUBJECT_PREFIX": prefix,
            "EVANA_RATE_LIMIT_PER_SECOND": "0",
        }
        try:
            with evana_serve(workdir, env) as server, evana_worker(env):
                assert server.admin_key
                ingest, read = _keys(db_url)
                yield Target("production", server.url, db_url, ingest, read, server.admin_key)
        finally:
            asyncio.run(delete_nats_prefix(nats_url, prefix))


@pytest.fixture(
    scope="session",
    params=["embedded", pytest.param("production", marks=pytest.mark.integration)],
)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """``evana serve`` on each path, shared by the drop-in tests (each has its own users)."""
    workdir = tmp_path_factory.mktemp(request.param)
    if request.param == "embedded":
        with _embedded(workdir) as found:
            yield found
    else:
        pg_server = request.getfixturevalue("pg_server")
        nats_url = request.getfixturevalue("nats_url")
        with _production(workdir, pg_server, nats_url) as found:
            yield found


def users() -> str:
    """A fresh user-id prefix, so tests sharing a server never see each other's events."""
    return f"t{uuid.uuid4().hex[:8]}-"
