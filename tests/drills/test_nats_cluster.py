"""Drill: a three-node NATS cluster loses its stream leader, then its quorum, under ingest.

Three ``nats-server`` processes form one JetStream cluster on loopback ports; evana's streams
are replicated on all three (``EVANA_NATS_REPLICAS=3``) and the API and both workers are given
all three URLs. While a client keeps sending, the ingest stream's leader is SIGKILLed (the
other two elect a new one and go on), then a second node is stopped (one node of three left:
no quorum, so nothing can be made durable and the API must answer 503), and both are started
again on their stores. Every event must be stored and counted exactly once, and the 503s must
fall only where the cluster had no leader or no quorum.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from pathlib import Path

import pytest

from evana.server._queue import Names
from tests._evana import evana_serve
from tests._services import _nats_binary, free_port
from tests.server._pipeline import evana_worker, wait_until

from ._drill import (
    Figures,
    LeaderWatch,
    NatsProcess,
    Poster,
    check_exactly_once,
    counts,
    drill_events,
    nats_cluster,
    stream_leader,
    timed,
    wait_for_jetstream,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "cluster"
#: A 503 may come this long after the stream last had no leader: the API's publish waits up to
#: EVANA_PUBLISH_TIMEOUT_SECONDS (2 s here) for an answer, and a look at the leader takes 1 s.
SLACK = 3.0


def _node(nodes: list[NatsProcess], name: str) -> NatsProcess:
    return next(node for node in nodes if node.name == name)


def _last(times: list[float], since: float) -> str:
    return f"the last {max(times) - since:.1f} s after it" if times else "none"


def test_nats_cluster_loses_its_leader_then_its_quorum_and_counts_every_event_once(
    tmp_path: Path, pg_fresh_url: str
) -> None:
    nodes = nats_cluster(str(tmp_path / "nats"))
    env = {
        "EVANA_DATABASE_URL": pg_fresh_url,
        "EVANA_NATS_URL": ",".join(node.url for node in nodes),
        "EVANA_NATS_REPLICAS": "3",
        "EVANA_NATS_SUBJECT_PREFIX": PREFIX,
        "EVANA_PUBLISH_TIMEOUT_SECONDS": "2",
        "EVANA_WORKER_ACK_WAIT_SECONDS": "2",
        "EVANA_WORKER_FETCH_BATCH": "4",
    }
    events = drill_events(6000, seed=43)
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]
    stream = Names.of(PREFIX).stream

    with timed(Figures("NATS cluster: leader killed, quorum lost")) as figures:
        try:
            for node in nodes:
                node.start()
            for node in nodes:
                wait_for_jetstream(node.url)
            with (
                LeaderWatch([node.url for node in nodes], stream) as watch,
                evana_serve(tmp_path, env) as api,
                evana_worker(env, free_port()) as first,
                evana_worker(env, free_port()) as second,
            ):
                assert api.admin_key
                poster = Poster(api.url, api.admin_key)

                def send() -> None:
                    for batch in batches:
                        poster.post(batch, deadline=60)
                        time.sleep(0.05)  # a steady stream, not one burst

                sender = threading.Thread(target=send)
                sender.start()

                # 1. The stream's leader dies mid-ingest; the other two elect a new one.
                wait_until(lambda: counts(pg_fresh_url)[1] > 800, 30, "writes to start")
                leader = _node(nodes, stream_leader(nodes[0].url, stream))
                leader.kill()
                killed_at = time.monotonic()
                figures.faults += 1
                alive = [node for node in nodes if node.running]
                wait_until(
                    lambda: stream_leader(alive[0].url, stream) not in ("", leader.name),
                    30,
                    "a new stream leader",
                )
                written = counts(pg_fresh_url)[1]
                wait_until(
                    lambda: counts(pg_fresh_url)[1] > written + 300,
                    30,
                    "writes to go on under the new leader",
                )

                # 2. A second node goes: one of three is left, no quorum, nothing durable.
                # The new leader if the cluster says which, else either survivor.
                other = _node(nodes, stream_leader(alive[0].url, stream) or alive[0].name)
                other.stop()
                stopped_at = time.monotonic()
                figures.faults += 1
                time.sleep(3)

                # 3. Both come back on their stores; nobody restarts the API or the workers.
                leader.start()
                other.start()
                restarted_at = time.monotonic()
                wait_until(lambda: bool(stream_leader(leader.url, stream)), 30, "a quorum again")
                quorum_at = time.monotonic()
                sender.join(90)
                assert not sender.is_alive(), "the client never got every batch accepted"

                # 4. A client that resends (a lost answer, say) counts nothing twice.
                for batch in random.Random(5).sample(batches, 8):
                    poster.post(batch)
                check_exactly_once(figures, pg_fresh_url, api.url, api.admin_key, events)
                assert first.proc.poll() is None  # both workers lived through it all
                assert second.proc.poll() is None
                duplicates = sum(
                    worker.metric("evana_events_duplicates_total") for worker in (first, second)
                )
                poster.close()

            # 503 only while the stream had no leader (elected after the kill, or no quorum).
            stray = [t for t in poster.unavailable if not watch.leaderless(t, before=SLACK)]
            assert not stray, f"{len(stray)} 503s while the stream had a leader: {poster.reasons}"
            after_kill = [t for t in poster.unavailable if t < stopped_at]
            no_quorum = [t for t in poster.unavailable if t >= stopped_at]
            figures.requests = poster.requests
            leaderless = watch.leaderless_seconds(killed_at, stopped_at)
            figures.notes.append(
                f"leader kill: no leader for {leaderless:.1f} s,"
                f" {len(after_kill)} 503s, {_last(after_kill, killed_at)}"
            )
            figures.notes.append(
                f"no quorum: {len(no_quorum)} 503s, {_last(no_quorum, stopped_at)};"
                f" leader again {quorum_at - restarted_at:.1f} s after the restart"
            )
            figures.notes.append(
                f"{poster.refused - len(poster.unavailable)} requests without an answer"
            )
            figures.notes.append(f"{duplicates:g} resent events the workers found stored already")
            version = subprocess.run(
                [_nats_binary(), "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
            figures.notes.append(version or "nats-server of unknown version")
            figures.notes.append("503 said: " + " | ".join(sorted(poster.reasons)))
        finally:
            for node in nodes:
                node.stop()
