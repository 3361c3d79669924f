"""Drill: the API process SIGKILLed with requests in flight while SDK clients keep sending.

Three clients track events from their own threads as fast as they can. The API is killed
twice mid-stream and started again on the same port each time. Some requests die half-way:
the SDK never got an answer for them although the API may have made them durable, so it sends
them again. Afterwards every event that got a 202 — and, since the SDK retries, every event
that was tracked — is stored and counted exactly once.

Production mode (API, NATS JetStream, a worker, PostgreSQL) and embedded mode (SQLite, writes
in the API process) both.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import evana
from evana.server._batch import NormalizedEvent
from evana.server._keys import KeyService
from evana.server._storage import Database
from tests._evana import ServerProcess, evana_serve
from tests._services import free_port
from tests.server._pipeline import evana_worker, wait_until

from ._drill import Figures, RecordingTransport, check_exactly_once, drill_events, timed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 3
KILLS = 2


def run_clients(
    url: str, key: str, events: list[NormalizedEvent], figures: Figures, kill: threading.Event
) -> RecordingTransport:
    """Track ``events`` from CLIENTS clients; set ``kill`` when 1/3 and 2/3 of them got a 202."""
    transport = RecordingTransport(url)  # shared by the clients: its counters are locked
    errors: list[object] = []
    shares = [events[i::CLIENTS] for i in range(CLIENTS)]

    def send(index: int) -> None:
        with evana.Client(
            url,
            key,
            transport=transport,
            flush_at=25,
            flush_interval=0.02,
            on_error=lambda _e, error: errors.append(error),
        ) as client:
            for n, e in enumerate(shares[index]):
                client.track(e.event, e.user_id, e.properties, e.timestamp, e.event_id)
                if n % 25 == 0:
                    time.sleep(0.01)  # a steady stream rather than one burst
            assert client.flush(timeout=60)
            metrics = client.metrics
            assert (metrics.failed, metrics.dropped) == (0, 0)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for step in range(1, KILLS + 1):
        target = step * len(events) // (KILLS + 1)
        wait_until(lambda t=target: len(transport.acked) >= t, 60, "that many 202s")
        # Kill it with requests under way (the clients keep several in flight nearly always).
        deadline = time.monotonic() + 5
        while transport.in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.0005)
        kill.set()
        wait_until(lambda: not kill.is_set(), 60, "the API to be back")
    for thread in threads:
        thread.join(90)
        assert not thread.is_alive()
    assert errors == []
    transport.close()
    figures.requests = transport.requests
    figures.notes.append(f"{transport.cut} requests cut off in flight")
    figures.notes.append(f"{transport.refused} refused while it restarted")
    return transport


@contextlib.contextmanager
def killable_api(
    cwd: Path, env: dict[str, str], figures: Figures, kill: threading.Event
) -> Iterator[ServerProcess]:
    """``evana serve`` on a fixed port; whenever ``kill`` is set, SIGKILL it and start anew."""
    port = free_port()
    stack = contextlib.ExitStack()
    first = stack.enter_context(evana_serve(cwd, env, port=port))
    stop = threading.Event()

    def killer() -> None:
        current = first
        while not stop.is_set():
            if kill.wait(0.05):
                current.proc.send_signal(signal.SIGKILL)  # requests in flight die with it
                current.proc.wait(10)
                figures.faults += 1
                current = stack.enter_context(evana_serve(cwd, env, port=port))
                kill.clear()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        yield first
    finally:
        stop.set()
        thread.join(30)
        stack.close()


def ingest_key(db_url: str) -> str:
    db = Database(db_url)
    try:
        return KeyService(db).create("ingest", "drill").key
    finally:
        db.dispose()


def test_api_killed_in_production_mode(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    env = {
        "EVANA_DATABASE_URL": pg_fresh_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
        "EVANA_WORKER_FETCH_BATCH": "8",
    }
    events = drill_events(6000, seed=61)
    kill = threading.Event()
    with (
        timed(Figures("API killed, production mode")) as figures,
        killable_api(tmp_path, env, figures, kill) as api,
        evana_worker(env, free_port()) as worker,
    ):
        assert api.admin_key
        transport = run_clients(api.url, ingest_key(pg_fresh_url), events, figures, kill)
        check_exactly_once(figures, pg_fresh_url, api.url, api.admin_key, events)
        assert transport.acked == {e.event_id for e in events}
        resent = worker.metric("evana_events_duplicates_total")
        figures.notes.append(f"{resent:g} resent events the worker found stored already")
    assert figures.faults == KILLS


def test_api_killed_in_embedded_mode(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'evana.db'}"
    events = drill_events(3000, seed=62)
    kill = threading.Event()
    with (
        timed(Figures("API killed, embedded mode")) as figures,
        killable_api(tmp_path, {"EVANA_DATABASE_URL": db_url}, figures, kill) as api,
    ):
        assert api.admin_key
        transport = run_clients(api.url, ingest_key(db_url), events, figures, kill)
        check_exactly_once(figures, db_url, api.url, api.admin_key, events)
        assert transport.acked == {e.event_id for e in events}
    assert figures.faults == KILLS
