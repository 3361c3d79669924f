"""Fixtures of the CLI tests: a real ``evana serve`` with a key of each scope, a CliRunner, data."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from evana.cli import _output
from evana.cli._app import app
from evana.server._keys import KeyService
from evana.server._storage import Database
from tests._evana import evana_serve
from tests.reference import Ev


@dataclass(frozen=True)
class Served:
    """A running ``evana serve`` and one key of each scope."""

    url: str
    cwd: Path
    admin: str
    read: str
    ingest: str


def serve_with_keys(cwd: Path) -> Iterator[Served]:
    """Start ``evana serve`` in ``cwd``; add a read and an ingest key to its database."""
    with evana_serve(cwd) as server:
        assert server.admin_key
        db = Database(f"sqlite:///{cwd / 'evana.db'}")
        try:
            keys = KeyService(db)
            read, ingest = keys.create("read", "cli").key, keys.create("ingest", "cli").key
        finally:
            db.dispose()
        yield Served(server.url, cwd, server.admin_key, read, ingest)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the CliRunner tests; each test keeps to days of its own (see ``days``)."""
    yield from serve_with_keys(tmp_path_factory.mktemp("cli-server"))


_first_days = itertools.count()


@pytest.fixture
def days() -> dt.date:
    """A first day no other test of this session uses (the next 60 days are this test's)."""
    return dt.date(2001, 1, 1) + dt.timedelta(days=60 * next(_first_days))


@pytest.fixture(autouse=True)
def _console_reads_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI's consoles take their width from ``COLUMNS`` at each use, as a new process
    does: they read it once, when made, and a test process may have set it by then (as
    pytest-xdist's workers do), which would pin every later test to that width."""
    for console in (_output.console, _output.err_console):
        monkeypatch.setattr(console, "_width", None)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(
    runner: CliRunner,
    args: Sequence[str],
    *,
    input: bytes | str | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Run ``evana ARGS`` in this process, with no EVANA_URL/EVANA_API_KEY unless given."""
    base: dict[str, str | None] = {"EVANA_URL": None, "EVANA_API_KEY": None, "COLUMNS": "200"}
    return runner.invoke(app, list(args), input=input, env={**base, **(env or {})})


def event(
    name: str, user: str, when: dt.datetime | dt.date, *, event_id: str | None = None, **props: Any
) -> str:
    """One JSON line of an event (a date means noon UTC that day)."""
    if not isinstance(when, dt.datetime):
        when = dt.datetime.combine(when, dt.time(12), dt.UTC)
    body: dict[str, Any] = {"event": name, "user_id": user, "timestamp": when.isoformat()}
    if event_id is not None:
        body["event_id"] = event_id
    if props:
        body["properties"] = props
    return json.dumps(body)


def reference_events(lines: Sequence[str | bytes]) -> list[Ev]:
    """The reference's view of the valid event lines (bad ones must be filtered out first)."""
    out = []
    for line in lines:
        data = json.loads(line)
        stamp = dt.datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00"))
        out.append(Ev(data["event"], data["user_id"], stamp))
    return out
