"""Erasures under concurrency, through a real ``evana serve``: several at a time, while events for
the same days are ingested and compactions (the write path's and ``settle``) rewrite the rollups.

Afterwards every report must equal the reference computed without the erased users. Before the
rollup rewrites were serialised per key, PostgreSQL kept most erased users in the day's DAU.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from evana.server._storage import Database, settle
from tests._evana import evana_serve

from ._pipeline import check_reports, make_events, wire

USERS = 48
ERASED = 40
AT_A_TIME = 6
DAYS = 3


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL that a real ``evana serve`` migrates itself: a file, or a new database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'evana.db'}"
    url: str = request.getfixturevalue("pg_fresh_url")
    return url


def test_concurrent_erasures_ingest_and_compaction_leave_exact_reports(
    server_db: str, tmp_path: Path
) -> None:
    # Every user is active on every day, so all the erasures rewrite the same few keys.
    before = make_events(USERS * DAYS * 6, users=USERS, days=DAYS, seed=1)
    before += make_events(USERS * DAYS, users=USERS, days=DAYS, seed=2)
    erased = {f"user-{n}" for n in range(ERASED)}
    # Events ingested meanwhile come from users never erased (users 40-47 and new ones), so
    # the expected reports do not depend on which side of an erasure they land.
    during = [
        e
        for seed in range(3, 6)
        for e in make_events(400, users=USERS + 16, days=DAYS, seed=seed)
        if e.user_id not in erased
    ]
    env = {"EVANA_DATABASE_URL": server_db}
    with evana_serve(tmp_path, env) as api:
        assert api.admin_key
        headers = {"X-API-Key": api.admin_key}
        with httpx.Client(base_url=api.url, headers=headers, timeout=60) as client:
            # Small batches: each key gathers many delta rows, so writes keep compacting.
            for start in range(0, len(before), 25):
                batch = [wire(e) for e in before[start : start + 25]]
                assert client.post("/v1/events", json={"events": batch}).status_code == 202

            done = threading.Event()
            settled = [0]

            def ingest() -> None:
                with httpx.Client(base_url=api.url, headers=headers, timeout=60) as own:
                    for start in range(0, len(during), 10):
                        batch = [wire(e) for e in during[start : start + 10]]
                        assert own.post("/v1/events", json={"events": batch}).status_code == 202

            def compact() -> None:
                db = Database(server_db)
                try:
                    while not done.is_set():
                        settled[0] += settle(db, before=dt.date(2100, 1, 1))
                        time.sleep(0.005)
                finally:
                    db.dispose()

            def erase(user: str) -> int:
                with httpx.Client(base_url=api.url, headers=headers, timeout=60) as own:
                    answer = own.delete(f"/v1/users/{user}")
                    assert answer.status_code == 200, answer.text
                    return int(answer.json()["events_deleted"])

            compactor = threading.Thread(target=compact)
            compactor.start()
            try:
                with ThreadPoolExecutor(AT_A_TIME + 1) as pool:
                    feeding = pool.submit(ingest)
                    deleted = sum(pool.map(erase, sorted(erased)))
                    feeding.result()
            finally:
                done.set()
                compactor.join()
            assert deleted == sum(e.user_id in erased for e in before)
            for user in sorted(erased)[:3]:
                assert client.get(f"/v1/users/{user}/events").text == ""

        kept = [e for e in before + during if e.user_id not in erased]
        check_reports(api.url, api.admin_key, kept, days=DAYS + 1)
