"""Production mode end to end, through the installed commands: ``evana serve`` + ``evana worker``
on PostgreSQL and NATS JetStream, through every fault of issue 3. Reports are compared with the
brute-force reference, so "exact" means exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import random
import re
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import nats
import pytest

from evana.server._batch import NormalizedEvent
from evana.server._queue import Batch, Names
from evana.server._queue._codec import encode
from tests._evana import evana_serve, run_evana
from tests._services import free_port, throwaway_nats
from tests.server._pipeline import (
    check_reports,
    evana_worker,
    execute,
    make_events,
    stored_ids,
    wait_until,
    wire,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def pipeline_env(db_url: str, nats_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "EVANA_DATABASE_URL": db_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": prefix,
        # A killed worker's messages come back after 2 s instead of 30.
        "EVANA_WORKER_ACK_WAIT_SECONDS": "2",
        **extra,
    }


def post(url: str, key: str, events: Sequence[NormalizedEvent]) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/events",
        json={"events": [wire(e) for e in events]},
        headers={"X-API-Key": key},
        timeout=30,
    )


def chunks(events: list[NormalizedEvent], size: int) -> list[list[NormalizedEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def ids(events: Sequence[NormalizedEvent]) -> set[object]:
    return {e.event_id for e in events}


def dlq(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = run_evana("dlq", *args, env=env, input=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_worker_killed_mid_stream_loses_and_double_counts_nothing(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    # One message per transaction, so that the kill comes in the middle of the backlog.
    env = pipeline_env(
        pg_fresh_url,
        nats_url,
        nats_prefix,
        EVANA_WORKER_FETCH_BATCH="1",
        EVANA_WORKER_BATCH_EVENTS="50",
    )
    events = make_events(6000, users=40, seed=3)
    batches = chunks(events, 50)
    with evana_serve(tmp_path, env) as api:
        assert api.admin_key
        for batch in batches[:100]:
            assert post(api.url, api.admin_key, batch).status_code == 202
        with evana_worker(env) as worker:
            wait_until(lambda: len(stored_ids(pg_fresh_url)) >= 600, 30, "some writes")
            worker.kill()  # SIGKILL: no draining, in the middle of the backlog
        at_kill = len(stored_ids(pg_fresh_url))
        assert 0 < at_kill < 5000
        # The API goes on accepting while no worker runs; a client resends a few batches.
        for batch in batches[100:] + random.Random(1).sample(batches, 10):
            assert post(api.url, api.admin_key, batch).status_code == 202
        with evana_worker(env, free_port()) as again:
            wait_until(lambda: stored_ids(pg_fresh_url) == ids(events), 60, "all events")
            check_reports(api.url, api.admin_key, events)
            assert again.metric("evana_events_inserted_total") == len(events) - at_kill
            assert again.metric("evana_queue_lag_messages") >= 0
            # SIGTERM: drains and exits cleanly.
            assert again.terminate() == 0
            assert "msg=worker_stopped" in again.log()


def test_nats_down_means_503_and_nothing_accepted_then_it_resumes(
    tmp_path: Path, pg_fresh_url: str
) -> None:
    # Our own NATS, stopped and restarted on the same port and store: never the shared one.
    port, store = free_port(), tempfile.mkdtemp(prefix="evana-nats-")
    env = pipeline_env(
        pg_fresh_url, f"nats://127.0.0.1:{port}", "outage", EVANA_PUBLISH_TIMEOUT_SECONDS="2"
    )
    before, during, after = (
        make_events(30, seed=1),
        make_events(30, seed=2),
        make_events(30, seed=3),
    )
    with contextlib.ExitStack() as stack:
        stop_nats = stack.enter_context(contextlib.ExitStack())
        stop_nats.enter_context(throwaway_nats(port, store))
        api = stack.enter_context(evana_serve(tmp_path, env))
        worker = stack.enter_context(evana_worker(env))
        key = api.admin_key
        assert key
        assert post(api.url, key, before).status_code == 202
        wait_until(lambda: stored_ids(pg_fresh_url) == ids(before), 20, "first batch")

        stop_nats.close()  # NATS goes away
        for _ in range(3):
            refused = post(api.url, key, during)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["error"] == "unavailable"
        assert httpx.get(f"{api.url}/readyz").status_code == 503

        stack.enter_context(throwaway_nats(port, store))  # NATS is back
        wait_until(lambda: post(api.url, key, after).status_code == 202, 20, "publishing")
        wait_until(lambda: stored_ids(pg_fresh_url) == ids(before + after), 20, "written")
        assert httpx.get(f"{api.url}/readyz").status_code == 200
        # The same API and worker processes did it all, and the refused batch never arrived.
        assert api.proc.poll() is None and worker.proc.poll() is None  # noqa: PT018
        assert not ids(during) & stored_ids(pg_fresh_url)
        check_reports(api.url, key, before + after)


def test_a_failing_database_is_retried_then_dead_lettered_then_replayed(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    env = pipeline_env(
        pg_fresh_url,
        nats_url,
        nats_prefix,
        EVANA_RETRY_ATTEMPTS="3",
        EVANA_RETRY_BASE_SECONDS="0.1",
    )
    first = make_events(200, seed=11)
    second = make_events(100, seed=12)
    overlapping = second[50:] + make_events(20, seed=13)  # another batch, some events shared
    with evana_serve(tmp_path, env) as api, evana_worker(env, free_port()) as worker:
        key = api.admin_key
        assert key
        assert post(api.url, key, first).status_code == 202
        wait_until(lambda: stored_ids(pg_fresh_url) == ids(first), 20, "first batch")
        execute(pg_fresh_url, "ALTER TABLE events RENAME TO events_offline")
        try:
            assert post(api.url, key, second).status_code == 202
            assert post(api.url, key, overlapping).status_code == 202
            wait_until(lambda: len(json.loads(dlq(env, "list", "--format", "json"))) == 2, 30)
        finally:
            execute(pg_fresh_url, "ALTER TABLE events_offline RENAME TO events")
        letters = json.loads(dlq(env, "list", "--format", "json"))
        assert [set(letter) for letter in letters] == [
            {"id", "events", "error", "attempts", "failed_at"}
        ] * 2
        assert sorted(letter["events"] for letter in letters) == [70, 100]
        # 1 try + 3 retries; a delivery the worker never saw (Python 3.11's wait_for can drop
        # a message that arrives as a fetch times out) comes back after ack_wait and counts too.
        assert all(letter["attempts"] >= 4 for letter in letters)
        assert all('relation "events" does not exist' in letter["error"] for letter in letters)
        # Each message waited 0.1 s, then 0.3 s, then 0.9 s: read back from the worker's log.
        pattern = r"ts=(\S+) .*msg=batch_retry seq=(\d+) attempt=(\d+) retry_in_s=(\S+)"
        retries = re.findall(pattern, worker.log())
        by_seq: dict[str, list[tuple[dt.datetime, int, float]]] = {}
        for stamp, seq, attempt, delay in retries:
            ts = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            by_seq.setdefault(seq, []).append((ts, int(attempt), float(delay)))
        assert len(by_seq) == 2
        schedule = {1: 0.1, 2: 0.3, 3: 0.9}
        for attempts in by_seq.values():
            numbers = [a for _, a, _ in attempts]
            assert numbers == sorted(set(numbers)), attempts
            assert len(numbers) >= 2, attempts
            assert all(schedule[a] == d for _, a, d in attempts)
            for (t0, _, delay), (t1, _, _) in itertools.pairwise(attempts):
                assert (t1 - t0).total_seconds() >= delay
        shown = json.loads(dlq(env, "show", str(letters[0]["id"]), "--format", "json"))
        span = dt.datetime.fromisoformat(shown["failed_at"]) - dt.datetime.fromisoformat(
            shown["first_failed_at"]
        )
        assert span.total_seconds() >= 1.2
        assert worker.metric("evana_retries_total") == len(retries)
        assert worker.metric("evana_messages_dead_lettered_total") == 2
        assert worker.metric("evana_events_dead_lettered_total") == 170

        assert "Replayed 2 dead letters (170 events)" in dlq(env, "replay", "--all")
        everything = first + second + overlapping[50:]
        wait_until(lambda: stored_ids(pg_fresh_url) == ids(everything), 20, "replayed")
        assert json.loads(dlq(env, "list", "--format", "json")) == []
        assert "Nothing to replay" in dlq(env, "replay", "--all")
        # A batch resent after all that counts nothing twice either.
        assert post(api.url, key, second).status_code == 202
        check_reports(api.url, key, everything)


def test_only_the_poison_event_is_dead_lettered(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    env = pipeline_env(pg_fresh_url, nats_url, nats_prefix)
    good = make_events(60, seed=21)
    poison = NormalizedEvent(
        uuid.UUID(int=42, version=4),
        "signup",
        "bad\x00user",  # PostgreSQL text cannot hold NUL; the API would have refused it
        good[0].timestamp,
        None,
        good[0].received_at,
    )
    mixed = [*good[:30], poison, *good[30:]]

    async def publish_directly() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for part in encode(Batch.of(mixed), 1 << 20):
            await js.publish(Names.of(nats_prefix).ingest_subject, part)
        await nc.close()

    with evana_serve(tmp_path, env) as api, evana_worker(env):
        key = api.admin_key
        assert key
        asyncio.run(publish_directly())
        wait_until(lambda: len(json.loads(dlq(env, "list", "--format", "json"))) == 1, 20)
        assert stored_ids(pg_fresh_url) == ids(good)
        [letter] = json.loads(dlq(env, "list", "--format", "json"))
        assert (letter["events"], letter["attempts"]) == (1, 1)
        shown = json.loads(dlq(env, "show", str(letter["id"]), "--format", "json"))
        assert shown["kind"] == "permanent"
        assert [e["user_id"] for e in shown["data"]] == ["bad\x00user"]
        assert "bad" in dlq(env, "show", str(letter["id"]))  # the table view, events as JSON
        check_reports(api.url, key, good)
        # purge asks first; "n" keeps the entry, --yes deletes it.
        refused = run_evana("dlq", "purge", env=env, input="n\n")
        assert refused.returncode == 1
        assert len(json.loads(dlq(env, "list", "--format", "json"))) == 1
        assert "Purged 1 dead letter" in dlq(env, "purge", "--yes")
        assert "empty" in dlq(env, "list")
        missing = run_evana("dlq", "show", str(letter["id"]), env=env)
        assert missing.returncode == 1
        assert "no dead letter with id" in missing.stderr


def test_two_workers_write_every_event_exactly_once(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    env = pipeline_env(pg_fresh_url, nats_url, nats_prefix, EVANA_WORKER_FETCH_BATCH="2")
    events = make_events(4000, users=30, seed=31)
    with evana_serve(tmp_path, env) as api:
        key = api.admin_key
        assert key
        with evana_worker(env, free_port()) as one, evana_worker(env, free_port()) as two:
            for batch in chunks(events, 40):
                assert post(api.url, key, batch).status_code == 202
            wait_until(lambda: stored_ids(pg_fresh_url) == ids(events), 60, "all events")
            inserted = [w.metric("evana_events_inserted_total") for w in (one, two)]
            duplicates = [w.metric("evana_events_duplicates_total") for w in (one, two)]
        assert sum(inserted) == len(events)
        assert duplicates == [0, 0]  # no message was written twice
        assert all(n > 0 for n in inserted)  # both took part
        check_reports(api.url, key, events)
        metrics = httpx.get(f"{api.url}/metrics").text
        assert f"evana_events_accepted_total {float(len(events))}" in metrics
