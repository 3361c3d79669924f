"""Erasing a user: afterwards every report equals a reference computed without that user."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evana.server._analytics import AnalyticsService
from evana.server._storage import EventStore, erase_user, settle, user_events

from .test_analytics import check_all_reports, empty_database, raw_events, to_events, write_messily


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=raw_events, seed=st.integers(0, 2**32), victim=st.integers(0, 11), data=st.data())
def test_erasing_a_user_leaves_exact_reports(
    db_url: str,
    raw: list,
    seed: int,
    victim: int,
    data: st.DataObject,  # type: ignore[type-arg]
) -> None:
    events = to_events(raw)
    user = f"user-{victim}"
    rnd = random.Random(seed)
    with empty_database(db_url) as db:
        store = EventStore(db)
        write_messily(store, events, rnd)
        service = AnalyticsService(db)
        check_all_reports(service, events, data)  # fill the bitmap cache before erasing
        if rnd.random() < 0.5:  # erase from compacted rows sometimes, from deltas other times
            settle(db, before=dt.date(2027, 1, 1))
        exported = list(user_events(db, user))
        expected = {e.event_id for e in events if e.user_id == user}
        assert {e["event_id"] for e in exported} == {str(i) for i in expected}
        result = erase_user(db, user)
        assert result.events == len(expected)
        assert list(user_events(db, user)) == []
        remaining = [e for e in events if e.user_id != user]
        check_all_reports(service, remaining, data)
        # Writing again after the erasure counts exactly too (and the user may come back).
        write_messily(store, events[: len(events) // 2], rnd)
        check_all_reports(service, remaining + events[: len(events) // 2], data)


def test_erasing_an_unknown_user_is_a_no_op(database: object) -> None:
    result = erase_user(database, "nobody")  # type: ignore[arg-type]
    assert (result.events, result.rollup_keys) == (0, 0)


def test_erasure_reaches_days_whose_raw_events_were_dropped(database: object) -> None:
    from sqlalchemy import delete

    from evana.server._batch import NormalizedEvent
    from evana.server._storage._tables import events as events_table

    db = database
    old, new = (
        dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 5, 12, tzinfo=dt.UTC),
    )
    rows = [
        NormalizedEvent(__import__("uuid").uuid4(), "view", user, when, None, when)
        for user in ("ann", "bob")
        for when in (old, new)
    ]
    EventStore(db).write(rows)  # type: ignore[arg-type]
    with db.write() as conn:  # type: ignore[attr-defined]
        conn.execute(
            delete(events_table).where(
                events_table.c.timestamp < dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
            )
        )
    result = erase_user(db, "ann")  # type: ignore[arg-type]
    assert result.events == 1  # only the raw event still stored could be counted
    service = AnalyticsService(db)  # type: ignore[arg-type]
    assert service.active_users("dau", old.date(), old.date()).series[0].users == 1  # ann is gone
    assert service.active_users("dau", new.date(), new.date()).series[0].users == 1
    assert service.top_events(new.date(), new.date(), 5).events[0].count == 1


@pytest.mark.integration
def test_events_of_the_user_stored_during_the_erasure_stay_counted(pg_url: str) -> None:
    """PostgreSQL lets a writer commit between the erasure's DELETE and its rollup rewrite; an
    event of the user stored then survives the erasure, and so must the user in its reports,
    and in its value of a tracked property (but not in the values of its erased events)."""
    import threading
    import uuid

    from evana.server._batch import NormalizedEvent
    from evana.server._storage import PropertyReader, _erasure, sync_tracked

    day = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
    row = lambda user, minute, plan: NormalizedEvent(  # noqa: E731
        uuid.uuid4(), "view", user, day + dt.timedelta(minutes=minute), {"plan": plan}, day
    )
    with empty_database(pg_url) as db:
        sync_tracked(db, ["plan"])
        store = EventStore(db)
        store.write([row("ann", 1, "free"), row("bob", 2, "free"), row("ann", 2, "pro")])
        late = row("ann", 3, "pro")
        sweep = _erasure._keys_holding

        def meanwhile(conn, uids):  # after the DELETE, before the rewrite locks and reads
            writer = threading.Thread(target=EventStore(db).write, args=([late],))
            writer.start()
            writer.join(20)
            assert not writer.is_alive()
            return sweep(conn, uids)

        _erasure._keys_holding = meanwhile  # type: ignore[assignment]
        try:
            assert erase_user(db, "ann").events == 2
        finally:
            _erasure._keys_holding = sweep  # type: ignore[assignment]
        assert [e["event_id"] for e in user_events(db, "ann")] == [str(late.event_id)]
        service = AnalyticsService(db)
        assert service.active_users("dau", day.date(), day.date()).series[0].users == 2
        top = service.top_events(day.date(), day.date(), 5).events
        assert [(e.event, e.count, e.users) for e in top] == [("view", 2, 2)]
        with db.read() as conn:
            plans = PropertyReader(conn, db.dialect).values("view", "plan", day.date(), day.date())
        assert plans is not None
        # bob's free view, and ann's late pro view: ann is gone from free, kept in pro.
        assert {text: len(found[day.date()][1] or ()) for text, found in plans.items()} == {
            '"free"': 1,
            '"pro"': 1,
        }
        assert {text: found[day.date()][0] for text, found in plans.items()} == {
            '"free"': 1,
            '"pro"': 1,
        }
