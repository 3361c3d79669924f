"""Merges under concurrency: links racing ingest of both ids on two writers, and merges racing
erasures and compactions of the same days. Every report must stay exact, links sent twice."""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evana.server._analytics import AnalyticsService
from evana.server._batch import NormalizedEvent
from evana.server._storage import Database, EventStore, erase_user, settle, upgrade
from tests import reference as ref

BASE = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
DAYS = 3
PERSONS = 40


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database that several connections (writers) really share."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'evana.db'}"
    else:
        url = request.getfixturevalue("pg_fresh_url")
    db = Database(url)
    upgrade(db)
    yield db
    db.dispose()


def activity(person: int, rnd: random.Random) -> list[NormalizedEvent]:
    """Events of a person's anonymous and known ids on every day."""
    out = []
    for who in (f"anon-{person}", f"user-{person}"):
        for day in range(DAYS):
            for _ in range(rnd.randint(1, 3)):
                stamp = BASE + dt.timedelta(days=day, minutes=rnd.randrange(24 * 60))
                name = rnd.choice(["view", "buy"])
                out.append(NormalizedEvent(uuid.uuid4(), name, who, stamp, None, BASE))
    return out


def link(person: int) -> NormalizedEvent:
    props = {"$anon_distinct_id": f"anon-{person}", "$set": {"n": person}}
    return NormalizedEvent(uuid.uuid4(), "$identify", f"user-{person}", BASE, props, BASE)


def check(db: Database, events: list[NormalizedEvent], person: Callable[[str], str]) -> None:
    service = AnalyticsService(db)
    counted = [ref.Ev(e.event, person(e.user_id), e.timestamp) for e in events]
    since, until = BASE.date(), BASE.date() + dt.timedelta(days=DAYS - 1)
    dump = lambda model: model.model_dump(mode="json")  # noqa: E731
    for kind, window in (("dau", 1), ("wau", 7)):
        assert dump(service.active_users(kind, since, until)) == ref.active(
            counted, since, until, window
        )
    assert dump(service.top_events(since, until, 5)) == ref.top(counted, since, until, 5)
    assert dump(service.retention(since, until, "day", 3)) == ref.retention(
        counted, since, until, "day", 3
    )


def known(user_id: str) -> str:
    return "user-" + user_id.split("-", 1)[1]


def test_links_racing_ingest_of_both_ids_on_two_writers(shared_db: Database) -> None:
    rnd = random.Random(3)
    events = [e for p in range(PERSONS) for e in activity(p, rnd)]
    links = [link(p) for p in range(PERSONS)]
    batches = [[*events, *links, *links][i::40] for i in range(40)]
    rnd.shuffle(batches)
    writers = [EventStore(shared_db), EventStore(shared_db)]

    def write(i: int) -> None:
        writers[i % 2].write(batches[i])
        writers[(i + 1) % 2].write(batches[i])  # the same batch again, on the other writer

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(len(batches))))
    check(shared_db, events, known)


def test_merges_racing_erasures_and_compactions(shared_db: Database) -> None:
    rnd = random.Random(5)
    store = EventStore(shared_db)
    events = [e for p in range(PERSONS) for e in activity(p, rnd)]
    erased = set(range(0, PERSONS, 2))  # linked before; erased while the others merge
    for start in range(0, len(events), 7):
        store.write(events[start : start + 7])  # many small deltas: compaction has work
    store.write([link(p) for p in sorted(erased)])
    stop = threading.Event()

    def compact() -> None:
        while not stop.is_set():
            settle(shared_db, before=BASE.date() + dt.timedelta(days=DAYS))

    def merge(p: int) -> None:
        EventStore(shared_db).write([link(p), link(p)])

    with ThreadPoolExecutor(4) as pool:
        compacting = pool.submit(compact)
        merges = [pool.submit(merge, p) for p in range(PERSONS) if p not in erased]
        erasures = [pool.submit(erase_user, shared_db, f"anon-{p}") for p in sorted(erased)]
        for future in merges + erasures:
            future.result()
        stop.set()
        compacting.result()
    assert all(f.result().events > 0 for f in erasures)
    kept = [e for e in events if int(e.user_id.split("-")[1]) not in erased]
    check(shared_db, kept, known)
