"""Text that users see sorted comes in code point order on every database, whatever its locale."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from evana._settings import Settings
from evana.server._batch import NormalizedEvent
from evana.server._storage import Database, EventStore, KeyRecord, KeyRepository, upgrade
from tests.conftest import make_api

WHEN = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
NAMES = ["b", "B", "a", "A", "é", "Z"]


@contextlib.contextmanager
def locale_database(server_url: str) -> Iterator[str]:
    """A migrated database whose default collation is en-US (ICU), where "a" < "A" < "b"."""
    name = f"evana_test_{uuid.uuid4().hex[:10]}"
    admin = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        try:
            conn.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0'
                " LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error as error:  # PostgreSQL < 15, or built without ICU
            pytest.skip(f"no en-US collation on this server: {error}")
    try:
        url = f"{server_url}/{name}"
        db = Database(url)
        with db.read() as conn:  # the premise: this database sorts by locale, not code point
            got = conn.exec_driver_sql("SELECT x FROM (VALUES ('B'), ('a')) v(x) ORDER BY x")
            assert [x for (x,) in got] == ["a", "B"]
        upgrade(db)
        db.dispose()
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def any_locale_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite://"
        return
    with locale_database(request.getfixturevalue("pg_server")) as url:
        yield url


def test_top_events_ties_come_in_code_point_order(any_locale_url: str) -> None:
    settings = Settings(database_url=any_locale_url)
    for api in make_api(settings):
        db = api.client.app_state["evana"].db
        EventStore(db).write(
            [NormalizedEvent(uuid.uuid4(), name, "ann", WHEN, None, WHEN) for name in NAMES]
        )
        params = {"since": "2026-11-02", "until": "2026-11-02"}
        for limit, expected in ((10, ["A", "B", "Z", "a", "b", "é"]), (3, ["A", "B", "Z"])):
            got = api.stats("top-events", **params, limit=limit)
            assert got.status_code == 200, got.text
            assert [row["event"] for row in got.json()["events"]] == expected


def test_keys_of_one_instant_are_listed_in_code_point_order(any_locale_url: str) -> None:
    db = Database(any_locale_url)
    if db.dialect.name == "sqlite":
        from evana.server._storage import create_schema

        create_schema(db)
    repo = KeyRepository(db)
    for key_id in ("b1", "B2", "a3", "A4"):
        repo.add(KeyRecord(key_id, key_id, "read", "0" * 64, WHEN, None))
    assert [record.key_id for record in repo.all()] == ["A4", "B2", "a3", "b1"]
    db.dispose()
