"""Bench plumbing for evana itself: load a generated set into a database, run a real server."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from evana.server._batch import NormalizedEvent
from evana.server._keys import KeyService
from evana.server._storage import Database, EventStore, upgrade

from .data import EventSet

__all__ = [
    "PG_SERVER",
    "drop_postgres",
    "fresh_postgres",
    "load",
    "loaded",
    "read_key",
    "serve",
    "vacuum",
]

PG_SERVER = os.environ.get("EVANA_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
_EVANA = shutil.which("evana", path=os.path.dirname(sys.executable)) or "evana"


def fresh_postgres(name: str) -> str:
    """Drop and create database ``name`` on the bench server; return its SQLAlchemy URL."""
    import psycopg

    admin = PG_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_SERVER}/{name}"


def drop_postgres(name: str) -> None:
    """Drop database ``name`` on the bench server, if it exists."""
    import psycopg

    admin = PG_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def loaded(url: str, events: int, tracked: Sequence[str] = ()) -> bool:
    """Whether PostgreSQL database ``url`` already holds ``events`` events and ready rollups of
    every property in ``tracked`` (so ``--reuse`` may skip the load: a database loaded before
    they were tracked would answer from raw events)."""
    import psycopg

    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
            ready = {
                name
                for (name,) in conn.execute(
                    "SELECT property FROM tracked_properties WHERE ready"
                ).fetchall()
            }
    except psycopg.Error:
        return False
    return row is not None and row[0] == events and set(tracked) <= ready


def vacuum(url: str) -> None:
    """Statistics and no dead rows after a load, as a live server's autovacuum would soon give:
    ``VACUUM ANALYZE`` on PostgreSQL, ``ANALYZE`` on SQLite.

    Compaction during the load deletes most rollup rows it wrote (13 dead rows for each live
    one at 10M events): a server that never vacuums (the test server runs with autovacuum off)
    makes every report's index scan visit them, 2-3 times the time of the reports themselves.
    Without statistics PostgreSQL joins a month of events to users by a nested loop, 2x slower.

    Then a checkpoint and a sync: after a load of tens of millions of events, the dirty pages
    it left were still being written while the next measurement ran, and every process was
    slower for it (the API, which never touches the database, took 1.5x its CPU per event).
    """
    if url.startswith("sqlite"):
        db = Database(url)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        db.dispose()
        return
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    os.sync()


def load(url: str, data: EventSet, chunk: int = 10_000) -> float:
    """Migrate ``url`` and store every event through evana's storage layer; return seconds."""
    db = Database(url)
    upgrade(db)
    store = EventStore(db)
    now = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    for first in range(0, len(data), chunk):
        rows = [
            NormalizedEvent(i, n, u, t, None, now) for i, n, u, t in data.rows(first, first + chunk)
        ]
        store.write(rows)
    elapsed = time.perf_counter() - start
    db.dispose()
    return elapsed


def read_key(url: str) -> str:
    """A new read key in database ``url``."""
    db = Database(url)
    try:
        return KeyService(db).create("read", "bench").key
    finally:
        db.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(database_url: str, cwd: Path, **env: str) -> Iterator[str]:
    """Run ``evana serve`` on ``database_url`` (plus ``EVANA_*`` env, such as
    ``EVANA_INSIGHT_PROPERTIES``) until the block ends."""
    port = _free_port()
    log = (cwd / f"serve-{port}.log").open("w")
    proc = subprocess.Popen(
        [_EVANA, "serve", "--port", str(port), "--log-level", "warning"],
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "EVANA_DATABASE_URL": database_url, **env},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"evana serve did not start; see {log.name}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
