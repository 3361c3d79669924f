"""Drill: PostgreSQL crashes and comes back under a running API, a worker and an SDK client.

The cluster is the test's own (``throwaway_postgres``: initdb on a free port), never the
machine's. Two crashes (``pg_ctl stop -m immediate``: no checkpoint, WAL replay on start):

1. with a backlog in hand — the worker is frozen (SIGSTOP) while batches are accepted, the
   database crashes, the worker thaws and its writes fail: they must be retried through
   JetStream redelivery until the database is back, and none may reach the dead-letter queue;
2. at a random moment of steady traffic.

Meanwhile the API needs the database to check keys, so it answers 503 and the SDK retries.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

import evana
from evana.server._keys import KeyService
from evana.server._storage import Database
from tests._evana import evana_serve, run_evana
from tests._services import free_port, temporary_database, throwaway_postgres
from tests.server._pipeline import evana_worker, wait_until

from ._drill import (
    Figures,
    Poster,
    RecordingTransport,
    check_exactly_once,
    counts,
    drill_events,
    pause,
    resume,
    timed,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_postgres_crashes_twice_and_nothing_is_lost_or_doubled(
    tmp_path: Path, nats_url: str, nats_prefix: str
) -> None:
    events = drill_events(3000, seed=51)
    frozen, steady = events[:600], events[600:]
    with (
        timed(Figures("PostgreSQL restarted")) as figures,
        throwaway_postgres() as cluster,
        temporary_database(cluster.url) as db_url,
    ):
        env = {
            "EVANA_DATABASE_URL": db_url,
            "EVANA_NATS_URL": nats_url,
            "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
            "EVANA_WORKER_ACK_WAIT_SECONDS": "2",
            "EVANA_WORKER_FETCH_BATCH": "4",
            # 0.5, 1.5, 4.5, 13.5, 40.5 s: an outage of a few seconds is well inside them.
            "EVANA_RETRY_BASE_SECONDS": "0.5",
        }
        with evana_serve(tmp_path, env) as api, evana_worker(env, free_port()) as worker:
            assert api.admin_key
            db = Database(db_url)
            ingest = KeyService(db).create("ingest", "drill").key
            db.dispose()

            # 1. A backlog in the worker's hands when the database crashes.
            poster = Poster(api.url, ingest)
            pause(worker.proc)
            for start in range(0, len(frozen), 50):
                poster.post(frozen[start : start + 50])
            cluster.stop("immediate")
            figures.faults += 1
            resume(worker.proc)
            wait_until(lambda: worker.metric("evana_retries_total") > 0, 20, "the worker to retry")
            time.sleep(1)
            cluster.start()
            wait_until(lambda: counts(db_url)[1] == len(frozen), 30, "the backlog")

            # 2. Steady traffic from the SDK; the database crashes at a random moment of it.
            transport = RecordingTransport(api.url)
            errors: list[object] = []
            with evana.Client(
                api.url,
                ingest,
                transport=transport,
                flush_at=40,
                flush_interval=0.05,
                on_error=lambda _e, error: errors.append(error),
            ) as client:

                def track() -> None:
                    for n, e in enumerate(steady):
                        client.track(e.event, e.user_id, e.properties, e.timestamp, e.event_id)
                        if n % 40 == 0:
                            time.sleep(0.02)

                sender = threading.Thread(target=track)
                sender.start()
                time.sleep(random.Random().uniform(0.2, 0.8))
                cluster.stop("immediate")
                figures.faults += 1
                time.sleep(2)
                cluster.start()
                sender.join(60)
                assert client.flush(timeout=60)
                metrics = client.metrics
            transport.close()
            assert errors == []
            assert (metrics.failed, metrics.dropped, metrics.delivered) == (0, 0, len(steady))

            check_exactly_once(figures, db_url, api.url, api.admin_key, events)
            assert {e.event_id for e in steady} <= transport.acked
            assert worker.metric("evana_messages_dead_lettered_total") == 0
            dead = run_evana("dlq", "list", "--format", "json", env=env)
            assert json.loads(dead.stdout) == []
            retries = worker.metric("evana_retries_total")
            figures.requests = poster.requests + transport.requests
            figures.notes.append(f"{retries:g} worker retries, 0 dead letters")
            figures.notes.append(
                f"{poster.refused + transport.requests - metrics.batches} requests"
                " refused or unanswered, then retried"
            )
            poster.close()
