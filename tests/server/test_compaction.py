"""Compaction is one process's job at a time, runs every so often rather than per write, and
never changes what reports count."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from evana.server._batch import NormalizedEvent
from evana.server._storage import Compactor, Database, EventStore, RollupReader, upgrade
from evana.server._storage._compaction import FULL_PASS_EVERY, PassResult
from evana.server._storage._tables import rollups

T0 = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def ev(name: str = "view", user: str = "u1", when: dt.datetime = T0) -> NormalizedEvent:
    return NormalizedEvent(uuid.uuid4(), name, user, when, None, T0)


def rows_of(db: Database, day: dt.date, name: str) -> int:
    with db.read() as conn:
        stmt = select(func.count()).where(rollups.c.day == day, rollups.c.event == name)
        return int(conn.execute(stmt.select_from(rollups)).scalar_one())


def test_writes_do_not_compact_until_a_pass_is_due(database: Database) -> None:
    now = [0.0]
    compactor = Compactor(database, every_events=1000, every_seconds=10, clock=lambda: now[0])
    store = EventStore(database, compactor)
    for i in range(30):
        store.write([ev(user=f"u{i % 7}")])
    assert rows_of(database, T0.date(), "view") == 30  # one delta row per write, no merge
    assert compactor.passes == 0
    now[0] = 11.0  # the timer is due: the next write runs a pass
    store.write([ev(user="u1")])
    assert compactor.passes == 1
    assert rows_of(database, T0.date(), "view") == 1
    with database.read() as conn:
        reader = RollupReader(conn, database.dialect)
        assert reader.top_events(T0.date(), T0.date(), 1) == [("view", 31)]
        assert len(reader.users_by_day("view", None, T0.date())[T0.date()]) == 7


def test_a_pass_runs_after_enough_events(database: Database) -> None:
    compactor = Compactor(database, every_events=50, every_seconds=3600)
    store = EventStore(database, compactor)
    for i in range(9):
        store.write([ev(user=f"u{i}") for _ in range(5)])
    assert compactor.passes == 0
    store.write([ev() for _ in range(5)])  # the 50th event
    assert compactor.passes == 1
    assert rows_of(database, T0.date(), "") == 1


def test_a_pass_merges_crowded_keys_and_settles_finished_days(database: Database) -> None:
    today = T0.date() + dt.timedelta(days=1)
    compactor = Compactor(
        database, every_events=10**9, every_seconds=3600, today=lambda: today, threshold=4
    )
    store = EventStore(database, compactor)
    for _ in range(3):  # yesterday's day is not finished: 3 rows stay (under the threshold)
        store.write([ev(when=T0 + dt.timedelta(days=1))])
    for _ in range(3):  # a finished day: merged to one row
        store.write([ev(when=T0 - dt.timedelta(days=1))])
    result = compactor.run()
    assert isinstance(result, PassResult)
    assert rows_of(database, today, "view") == 3
    assert rows_of(database, T0.date() - dt.timedelta(days=1), "view") == 1
    for _ in range(3):  # over the threshold: merged whatever the day
        store.write([ev(when=T0 + dt.timedelta(days=1))])
    compactor.run()
    assert rows_of(database, today, "view") == 1


def test_most_passes_look_only_at_keys_written_since_the_last(database: Database) -> None:
    """A key left with a few rows on a day that later ends gains no row, so the passes that
    look only at new rows skip it; the next full pass (every FULL_PASS_EVERY-th) settles it."""
    today = [T0.date()]
    compactor = Compactor(database, every_events=10**9, every_seconds=3600, today=lambda: today[0])
    store = EventStore(database, compactor)
    for _ in range(3):
        store.write([ev()])
    compactor.run()  # the first pass looks at every key: today's are not settled yet
    assert rows_of(database, T0.date(), "view") == 3
    today[0] = T0.date() + dt.timedelta(days=2)
    while compactor.passes % FULL_PASS_EVERY:
        store.write([ev("other", when=T0 + dt.timedelta(days=2))])  # new rows elsewhere only
        compactor.run()
        assert rows_of(database, T0.date(), "view") == 3
    compactor.run()
    assert rows_of(database, T0.date(), "view") == 1


@pytest.mark.integration
def test_only_one_process_compacts_at_a_time(pg_fresh_url: str) -> None:
    # Two databases (two pools, as two worker processes have) sharing PostgreSQL.
    first, second = Database(pg_fresh_url), Database(pg_fresh_url)
    upgrade(first)
    try:
        store = EventStore(first, Compactor(first, every_seconds=3600))
        for i in range(20):
            store.write([ev(user=f"u{i}"), ev(name="buy", user=f"u{i}")])
        inside = threading.Event()
        release = threading.Event()
        running = 0
        most = 0
        lock = threading.Lock()

        class Slow(Compactor):
            def _pass(self) -> PassResult:
                nonlocal running, most
                with lock:
                    running += 1
                    most = max(most, running)
                inside.set()
                release.wait(10)
                try:
                    return super()._pass()
                finally:
                    with lock:
                        running -= 1

        a, b = Slow(first), Slow(second)
        holder = threading.Thread(target=a.run)
        holder.start()
        assert inside.wait(10)
        assert b.run() is None  # a has the turn: b skips, without waiting
        assert b.passes == 0
        release.set()
        holder.join(10)
        assert a.passes == 1
        assert b.run() is not None  # the turn is free again
        assert rows_of(first, T0.date(), "view") == 1

        # Many tries from two "processes" at once: never two passes together.
        for i in range(20):
            store.write([ev(user=f"v{i}")])
        inside.clear()
        results: list[PassResult | None] = []

        def hammer(compactor: Compactor) -> None:
            for _ in range(15):
                results.append(compactor.run())
                time.sleep(0.001)

        threads = [threading.Thread(target=hammer, args=(c,)) for c in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert most == 1
        assert a.passes + b.passes == 2 + sum(r is not None for r in results)
        with first.read() as conn:
            reader = RollupReader(conn, first.dialect)
            assert reader.top_events(T0.date(), T0.date(), 2) == [("view", 40), ("buy", 20)]
    finally:
        first.dispose()
        second.dispose()


def test_a_failed_pass_does_not_fail_the_write(database: Database) -> None:
    class Broken(Compactor):
        def _pass(self) -> PassResult:
            raise RuntimeError("disk full")

    store = EventStore(database, Broken(database, every_events=1))
    assert store.write([ev(), ev()]).inserted == 2  # committed; the pass is tried again later
    assert rows_of(database, T0.date(), "view") == 1


def test_due_keys_beyond_a_pass_wait_in_a_backlog_instead_of_a_full_look(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evana.server._storage import _compaction

    today = T0.date() + dt.timedelta(days=30)
    compactor = Compactor(
        database, every_events=10**9, every_seconds=3600, today=lambda: today, limit=2
    )
    store = EventStore(database, compactor)
    days = [T0.date() - dt.timedelta(days=d) for d in range(5)]
    for _ in range(2):  # five finished days of two rows each: five due rollup keys of "view"
        for day in days:
            store.write([ev(when=dt.datetime.combine(day, dt.time(12), dt.UTC))])
    looks: list[tuple[str, int | None]] = []
    found = _compaction.due_keys

    def counting(*args: object, **kwargs: object) -> list:
        table = kwargs["table"]
        looks.append((table.name, kwargs["after_id"]))  # type: ignore[attr-defined]
        return found(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_compaction, "due_keys", counting)

    def settled() -> int:
        return sum(rows_of(database, day, name) == 1 for day in days for name in ("", "view"))

    compactor.run()  # the first, full look: ten rollup keys due ("" and "view", five days)
    assert settled() == 2
    assert ("rollups", None) in looks
    looks.clear()
    for _ in range(4):  # the other eight, two a pass, from the backlog: no look at all
        compactor.run()
    assert settled() == 10
    assert "rollups" not in [name for name, _ in looks]
    compactor.run()  # the backlog is empty: the next pass looks again, at new rows only
    assert [after for name, after in looks if name == "rollups"] != [None]
    assert "rollups" in [name for name, _ in looks]
