"""Event times (what funnels read): complete and exact through resends, compaction, erasure
and the backfill of events stored before they existed, on both databases."""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from evana.server._batch import NormalizedEvent
from evana.server._storage import EventStore, erase_user, settle
from evana.server._storage import _tables as tables
from evana.server._storage._bitmaps import BitmapCache
from evana.server._storage._times import (
    RECORD,
    _by_person,
    backfill_times,
    incomplete_keys,
    micros_of,
    read_times,
)
from evana.server._storage._users import UserIds

from .test_analytics import empty_database, raw_events, to_events, write_messily

FIRST, LAST = dt.date(2020, 1, 1), dt.date(2030, 1, 1)


def _stored(db, events: list[NormalizedEvent]) -> Counter:
    """The (uid, µs, name) of each event, as event times should hold them."""
    uids = UserIds(db).resolve(e.user_id for e in events)
    return Counter((uids[e.user_id], micros_of(e.timestamp), e.event) for e in events)


def _times(db, names: list[str], cache: BitmapCache | None = None) -> Counter | None:
    with db.read() as conn:
        rows = read_times(conn, FIRST, LAST, names, cache)
    if rows is None:
        return None
    return Counter(
        zip(
            rows.uids.tolist(),
            rows.micros.tolist(),
            [rows.names[c] for c in rows.codes.tolist()],
            strict=True,
        )
    )


NAMES = ["signup", "view", "purchase", "logout"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=raw_events, seed=st.integers(0, 2**32), victim=st.integers(0, 11))
def test_times_hold_every_counted_event_once(
    db_url: str, raw: list, seed: int, victim: int
) -> None:
    events = list({e.event_id: e for e in to_events(raw)}.values())
    rnd = random.Random(seed)
    with empty_database(db_url) as db:
        write_messily(EventStore(db), events, rnd)  # resends add nothing
        names = sorted({e.event for e in events} | {"never"})
        assert _times(db, names) == _stored(db, events)
        if rnd.random() < 0.5:
            settle(db, before=LAST)
            with db.read() as conn:
                rows = conn.execute(select(tables.event_times.c.day, tables.event_times.c.event))
                keys = Counter(tuple(r) for r in rows)
            assert all(n == 1 for n in keys.values())
            assert _times(db, names) == _stored(db, events)
        erase_user(db, f"user-{victim}")
        left = [e for e in events if e.user_id != f"user-{victim}"]
        assert _times(db, names) == _stored(db, left)
        with db.read() as conn:
            assert incomplete_keys(conn) == []


def _events(n: int, seed: int) -> list[NormalizedEvent]:
    rnd = random.Random(seed)
    base = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    out = []
    for _ in range(n):
        stamp = base + dt.timedelta(
            seconds=rnd.randrange(3 * 86400), microseconds=rnd.randrange(10**6)
        )
        name = rnd.choice(NAMES)
        out.append(NormalizedEvent(uuid.uuid4(), name, f"u{rnd.randrange(40)}", stamp, None, stamp))
    return out


def test_a_range_with_a_key_missing_times_is_declined(database) -> None:
    events = _events(300, 1)
    EventStore(database).write(events)
    assert _times(database, NAMES) == _stored(database, events)
    with database.write() as conn:
        day = min(e.timestamp.date() for e in events)
        conn.execute(delete(tables.event_times).where(tables.event_times.c.day == day))
    assert _times(database, NAMES) is None
    with database.read() as conn:
        assert {k[0] for k in incomplete_keys(conn)} == {day}
        # Days after it are still complete on their own.
        later = read_times(conn, day + dt.timedelta(days=1), LAST, NAMES)
    assert later is not None
    assert len(later) == sum(1 for e in events if e.timestamp.date() > day)


def test_backfill_rebuilds_missing_times_beside_writers(database) -> None:
    old = _events(600, 2)
    store = EventStore(database)
    store.write(old)
    with database.write() as conn:
        conn.execute(delete(tables.event_times))
    assert _times(database, NAMES) is None
    new = _events(400, 3)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(0, len(new), 20):
                EventStore(database).write(new[i : i + 20])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # Beside the backfill where writers run concurrently (PostgreSQL); SQLite (embedded mode,
    # one connection in memory here) writes before it.
    writer = threading.Thread(target=write)
    writer.start()
    if database.dialect.single_writer:
        writer.join()
    seen: list[tuple[int, int]] = []
    built = backfill_times(database, lambda done, total: seen.append((done, total)))
    writer.join()
    assert not errors
    assert built > 0
    assert seen[-1] == (built, built)
    assert _times(database, NAMES) == _stored(database, old + new)
    assert backfill_times(database) == 0  # resumable: nothing left to do


def test_backfill_leaves_keys_whose_raw_events_were_dropped_incomplete(database) -> None:
    events = _events(200, 4)
    EventStore(database).write(events)
    day = min(e.timestamp.date() for e in events)
    with database.write() as conn:
        conn.execute(delete(tables.event_times))
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        conn.execute(
            delete(tables.events).where(tables.events.c.timestamp < start + dt.timedelta(days=1))
        )
    backfill_times(database)
    with database.read() as conn:
        assert {k[0] for k in incomplete_keys(conn)} == {day}
    assert _times(database, NAMES) is None


@pytest.mark.parametrize("names", [["view"], ["view", "purchase", "signup"]])
def test_person_operations_and_the_every_event_key_have_no_times(database, names) -> None:
    events = _events(100, 5)
    stamp = events[0].timestamp
    identify = NormalizedEvent(uuid.uuid4(), "$identify", "u1", stamp, None, stamp)
    EventStore(database).write([*events, identify])
    with database.read() as conn:
        stored = set(conn.execute(select(tables.event_times.c.event)).scalars())
        assert incomplete_keys(conn) == []
    assert stored == {e.event for e in events}
    got = _times(database, [*names, "$identify"])
    assert got == _stored(database, [e for e in events if e.event in names])


def test_cached_records_follow_compaction_and_erasure(database) -> None:
    cache = BitmapCache()
    events = _events(500, 6)
    store = EventStore(database)
    for i in range(0, len(events), 50):
        store.write(events[i : i + 50])

    def read() -> Counter | None:
        found = _times(database, NAMES, cache)
        assert found is not None
        return found

    assert read() == _stored(database, events)
    with database.read() as conn:
        live = conn.execute(select(func.count()).select_from(tables.event_times)).scalar_one()
    assert len(cache.times) == live
    assert len(cache.runs) == len(NAMES)  # each name's events, in person order
    assert read() == _stored(database, events)  # from the cache alone
    settle(database, before=LAST)
    assert read() == _stored(database, events)
    with database.read() as conn:
        live = conn.execute(select(func.count()).select_from(tables.event_times)).scalar_one()
    assert len(cache.times) == live  # the merged-away rows were forgotten
    erase_user(database, "u3")
    assert read() == _stored(database, [e for e in events if e.user_id != "u3"])


def test_each_name_comes_in_person_order(database) -> None:
    events = _events(400, 8)
    store = EventStore(database)
    for i in range(0, len(events), 40):
        store.write(events[i : i + 40])
    with database.read() as conn:
        rows = read_times(conn, FIRST, LAST, NAMES, BitmapCache())
    assert rows is not None
    for code in range(len(rows.names)):
        uids = rows.uids[rows.codes == code]
        assert (np.diff(uids.astype(np.int64)) >= 0).all()


def test_person_order_keeps_each_persons_events_as_they_came() -> None:
    records = np.array([(70000, 5), (3, 9), (70000, 1), (3, 2), (65539, 7), (3, 4)], dtype=RECORD)
    uids, micros = _by_person([records[:3], records[3:]])
    # 65539 and 3 share their low 16 bits: the second pass sets them apart.
    assert uids.tolist() == [3, 3, 3, 65539, 70000, 70000]
    assert micros.tolist() == [9, 2, 4, 7, 5, 1]


def test_a_start_warns_while_stored_events_have_no_times(
    database, caplog: pytest.LogCaptureFixture
) -> None:
    from evana.server._app import check_event_times

    EventStore(database).write(_events(50, 7))
    with caplog.at_level("WARNING", logger="evana.server"):
        check_event_times(database)
    assert not caplog.records
    with database.write() as conn:
        conn.execute(delete(tables.event_times))
    with caplog.at_level("WARNING", logger="evana.server"):
        check_event_times(database)
    (record,) = caplog.records
    assert "msg=event_times_pending" in record.getMessage()
    assert "evana db upgrade" in record.getMessage()


def test_compaction_merges_only_rows_below_the_size_cap(
    database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evana.server._storage import _times as module

    # Rows of 3 records or more (36 bytes) stay as they are; smaller ones are merged.
    monkeypatch.setattr(module, "MERGE_BELOW", 3 * module.RECORD.itemsize)
    day = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
    store = EventStore(database)
    events = []
    for size in (5, 1, 1, 4, 2, 1):  # one write each, all of one key
        batch = [
            NormalizedEvent(uuid.uuid4(), "view", f"u{len(events) + i}", day, None, day)
            for i in range(size)
        ]
        events += batch
        store.write(batch)
    settle(database, before=LAST)

    def sizes() -> list[int]:
        with database.read() as conn:
            stmt = select(func.length(tables.event_times.c.times)).order_by(tables.event_times.c.id)
            return [n // 12 for n in conn.execute(stmt).scalars()]

    assert sorted(sizes()) == [4, 5, 5]  # 1 + 1 + 2 + 1 merged; 5 and 4 left alone
    assert _times(database, ["view"]) == _stored(database, events)
    settle(database, before=LAST)  # nothing small is left to merge: the rows stay
    assert sorted(sizes()) == [4, 5, 5]


def test_number_compaction_merges_only_multisets_below_the_size_cap(
    database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evana.server._storage import _times as module
    from evana.server._storage import sync_tracked
    from evana.server._storage._numbers import number_summaries

    sync_tracked(database, [], ["amount"])
    # A multiset of n distinct numbers takes 12 n + 1 bytes: rows of 3 or more stay.
    monkeypatch.setattr(module, "MERGE_BELOW", 12 * 3 + 1)
    day = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
    store = EventStore(database)
    amounts: list[float] = []
    for size in (5, 1, 1, 4, 2, 1):
        batch = [
            NormalizedEvent(uuid.uuid4(), "buy", "u1", day, {"amount": len(amounts) + i + 0.5}, day)
            for i in range(size)
        ]
        amounts += [len(amounts) + i + 0.5 for i in range(size)]
        store.write(batch)
    settle(database, before=LAST)
    with database.read() as conn:
        counts = sorted(conn.execute(select(tables.number_rollups.c.count)).scalars().all())
        (summary,) = number_summaries(conn, "buy", "amount", day.date(), day.date()).values()
    assert counts == [4, 5, 5]
    assert summary.math("sum") == sum(amounts)
    ranked = sorted(amounts)
    assert summary.math("p90") == ranked[-(-90 * len(ranked) // 100) - 1]
