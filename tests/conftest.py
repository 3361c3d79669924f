"""Shared fixtures: databases on both dialects, an API per database, services on demand."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text

from evana.server import Settings, create_app
from evana.server._keys import KeyService
from evana.server._storage import Database, create_schema, upgrade

from ._services import nats_server, postgres_server, temporary_database

_PG_TABLES = (
    "events, users, rollups, property_rollups, number_rollups, event_times, tracked_properties,"
    " api_keys, person_ids, person_state, person_properties"
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The PostgreSQL server URL of this run (no database part)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test run (dropped at the end)."""
    with temporary_database(pg_server) as url:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url


@pytest.fixture
def pg_fresh_url(pg_server: str) -> Iterator[str]:
    """An empty PostgreSQL database of one test (not migrated; dropped afterwards)."""
    with temporary_database(pg_server) as url:
        yield url


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """NATS with JetStream: the machine's on 127.0.0.1:4222, else a throwaway server."""
    with nats_server() as url:
        yield url


@pytest.fixture
def nats_prefix(nats_url: str) -> Iterator[str]:
    """A subject prefix of one test; its streams, consumer and bucket are deleted afterwards."""
    prefix = f"evtest_{uuid.uuid4().hex[:12]}"
    yield prefix
    asyncio.run(delete_nats_prefix(nats_url, prefix))


async def delete_nats_prefix(url: str, prefix: str) -> None:
    """Delete everything evana keeps in NATS under ``prefix``."""
    import nats
    import nats.js.errors

    from evana.server._queue import Names

    names = Names.of(prefix)
    nc = await nats.connect(url)
    js = nc.jetstream()
    for stream in (names.stream, names.dlq_stream):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_key_value(names.ledger_bucket)
    await nc.close()


def _truncate(url: str) -> None:
    db = Database(url)
    with db.write() as conn:
        conn.execute(text(f"TRUNCATE {_PG_TABLES} RESTART IDENTITY"))
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database URL, once per dialect: in-memory SQLite and the run's PostgreSQL."""
    if request.param == "sqlite":
        yield "sqlite://"
        return
    url: str = request.getfixturevalue("pg_url")
    _truncate(url)
    yield url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A ready, empty :class:`Database` on each dialect."""
    db = Database(db_url)
    if db.dialect.name == "sqlite":
        create_schema(db)
    yield db
    db.dispose()


@dataclass
class Api:
    """A running app with a key of each scope."""

    client: httpx.Client
    admin: str
    read: str
    ingest: str

    def post_events(self, events: list[dict[str, object]], **body: object) -> httpx.Response:
        return self.client.post(
            "/v1/events", json={"events": events, **body}, headers={"X-API-Key": self.ingest}
        )

    def stats(self, report: str, **params: object) -> httpx.Response:
        return self.client.get(
            f"/v1/stats/{report}", params=params, headers={"X-API-Key": self.read}
        )


def make_api(settings: Settings) -> Iterator[Api]:
    """Run ``create_app(settings)`` in a TestClient with one key of each scope."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings)) as client:
        keys = KeyService(client.app_state["evana"].db)
        yield Api(
            client=client,
            admin=keys.create("admin").key,
            read=keys.create("read").key,
            ingest=keys.create("ingest").key,
        )


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    """The API on each dialect, with keys."""
    yield from make_api(
        Settings(database_url=db_url, max_batch_events=100, max_body_bytes=64 * 1024)
    )


# The fault drills' figures (tests/drills/conftest.py attaches them to the reports), printed at
# the end of the run. This lives here, not beside the drills, because under xdist only the
# top-level conftest is loaded in the main process, which prints the summary.
_DRILL_LINES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _DRILL_LINES.extend(str(value) for name, value in report.user_properties if name == "drill")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _DRILL_LINES:
        terminalreporter.section("fault drills")
        for line in _DRILL_LINES:
            terminalreporter.write_line(line)
