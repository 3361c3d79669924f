"""Drill: NATS killed and restarted with its JetStream store kept.

``tests/server/test_pipeline_e2e.py`` stops NATS with nothing waiting in it (503s while it is
away, then it resumes). This drill covers what that one does not: accepted events that are
still *in* NATS when it dies. First a backlog is accepted while no worker runs, NATS is
SIGKILLed and started again on the same store: the backlog must still be there and be written
once. Then NATS is killed again under a running worker while a client keeps sending.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path

import pytest

from evana.server._queue import Names
from tests._evana import evana_serve
from tests._services import free_port
from tests.server._pipeline import evana_worker, wait_until

from ._drill import (
    Figures,
    NatsProcess,
    Poster,
    check_exactly_once,
    counts,
    drill_events,
    stream_messages,
    timed,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "drill"


def test_nats_killed_with_a_backlog_keeps_it_and_writes_it_once(
    tmp_path: Path, pg_fresh_url: str
) -> None:
    nats = NatsProcess(free_port(), tempfile.mkdtemp(prefix="evana-drill-nats-", dir=tmp_path))
    env = {
        "EVANA_DATABASE_URL": pg_fresh_url,
        "EVANA_NATS_URL": nats.url,
        "EVANA_NATS_SUBJECT_PREFIX": PREFIX,
        "EVANA_PUBLISH_TIMEOUT_SECONDS": "2",
        "EVANA_WORKER_ACK_WAIT_SECONDS": "2",
        "EVANA_WORKER_FETCH_BATCH": "4",
    }
    events = drill_events(4000, seed=41)
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]
    backlog, live = batches[:40], batches[40:]
    stream = Names.of(PREFIX).stream
    with timed(Figures("NATS restarted, store kept")) as figures:
        nats.start()
        try:
            with evana_serve(tmp_path, env) as api:
                assert api.admin_key
                poster = Poster(api.url, api.admin_key)
                # 1. A backlog accepted while no worker runs: it lives only in NATS.
                for batch in backlog:
                    poster.post(batch)
                waiting = stream_messages(nats.url, stream)
                assert waiting >= len(backlog)
                nats.kill()
                figures.faults += 1
                nats.start()
                assert stream_messages(nats.url, stream) == waiting  # the store kept it all
                assert counts(pg_fresh_url)[1] == 0  # and nothing was written yet

                # 2. A worker drains it while a client keeps sending; NATS dies again mid-way.
                with evana_worker(env, free_port()) as worker:
                    sender = threading.Thread(target=lambda: [poster.post(b) for b in live])
                    sender.start()
                    wait_until(lambda: counts(pg_fresh_url)[1] > 1000, 30, "writes to start")
                    nats.kill()
                    figures.faults += 1
                    time.sleep(1.5)  # the API answers 503, the worker's fetches fail
                    nats.start()
                    sender.join(60)
                    assert not sender.is_alive()
                    # 3. A client that resends (a lost answer, say) counts nothing twice.
                    for batch in random.Random(4).sample(batches, 8):
                        poster.post(batch)
                    check_exactly_once(figures, pg_fresh_url, api.url, api.admin_key, events)
                    assert worker.proc.poll() is None  # the same worker lived through it
                    duplicates = worker.metric("evana_events_duplicates_total")
                figures.requests = poster.requests
                figures.notes.append(f"{poster.refused} answers were 503 or no answer")
                figures.notes.append(f"{waiting} backlog messages survived the kill")
                figures.notes.append(
                    f"{duplicates:g} resent events the worker found stored already"
                )
                poster.close()
        finally:
            nats.stop()
