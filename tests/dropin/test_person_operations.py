"""Person operations are stored durably and counted in no report, erasure included."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from evana.server._analytics import AnalyticsService
from evana.server._batch import NormalizedEvent
from evana.server._storage import PERSON_EVENTS, EventStore, erase_user
from evana.server._wire import segment
from tests.server.test_analytics import (
    BASE,
    check_all_reports,
    empty_database,
    raw_events,
    to_events,
    write_messily,
)

person_operations = st.lists(
    st.tuples(
        st.sampled_from(sorted(PERSON_EVENTS)),
        st.integers(0, 11),
        st.integers(0, 75 * 24 * 60),
    ),
    max_size=40,
)


def as_events(raw: list[tuple[str, int, int]]) -> list[NormalizedEvent]:
    return [
        NormalizedEvent(
            uuid.uuid4(), name, f"user-{user}", BASE + dt.timedelta(minutes=minutes), None, BASE
        )
        for name, user, minutes in raw
    ]


def test_the_segment_person_types_map_to_person_operations() -> None:
    persons = {
        name for kind, name in segment.TYPES.items() if kind in ("identify", "alias", "group")
    }
    assert persons <= PERSON_EVENTS


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=raw_events,
    persons=person_operations,
    seed=st.integers(0, 2**32),
    victim=st.integers(0, 11),
    data=st.data(),
)
def test_reports_ignore_person_operations_before_and_after_an_erasure(
    db_url: str,
    raw: list,  # type: ignore[type-arg]
    persons: list,  # type: ignore[type-arg]
    seed: int,
    victim: int,
    data: st.DataObject,  # type: ignore[type-arg]
) -> None:
    activity, operations = to_events(raw), as_events(persons)
    rnd = random.Random(seed)
    with empty_database(db_url) as db:
        store = EventStore(db)
        write_messily(store, activity + operations, rnd)
        with db.read() as conn:
            stored = conn.execute(text("SELECT count(*) FROM events")).scalar()
        assert stored == len({e.event_id for e in activity + operations})
        service = AnalyticsService(db)
        check_all_reports(service, activity, data)
        erase_user(db, f"user-{victim}")
        check_all_reports(service, [e for e in activity if e.user_id != f"user-{victim}"], data)


def test_person_operations_count_as_inserted_not_as_duplicates(db_url: str) -> None:
    with empty_database(db_url) as db:
        store = EventStore(db)
        batch = as_events([("$identify", 1, 10), ("$set", 2, 20)]) + to_events(
            [("view", 1, 5, dt.UTC, True)]
        )
        first = store.write(batch)
        again = store.write(batch)
    assert (first.inserted, first.duplicates) == (3, 0)
    assert (again.inserted, again.duplicates) == (0, 3)


def test_erasure_takes_out_only_what_the_rollups_hold(db_url: str) -> None:
    # One day: u1 views and identifies, u2 views. Erasing u1 must leave u2's day whole.
    with empty_database(db_url) as db:
        store = EventStore(db)
        store.write(
            to_events([("view", 1, 60, dt.UTC, True), ("view", 2, 70, dt.UTC, True)])
            + as_events([("$identify", 1, 65)])
        )
        assert erase_user(db, "user-1").events == 2
        dau = AnalyticsService(db).active_users("dau", BASE.date(), BASE.date())
    assert [row.users for row in dau.series] == [1]
