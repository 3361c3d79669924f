"""Every report equals a brute-force reference written from DESIGN.md's definitions."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from evana.schema import derive_event_id
from evana.server._analytics import AnalyticsService
from evana.server._batch import NormalizedEvent
from evana.server._storage import Database, EventStore, create_schema, settle
from tests import reference as ref

BASE = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
NAMES = ["signup", "view", "buy", "share"]
OFFSETS = [dt.timezone(dt.timedelta(hours=h)) for h in (-11, -5, 0, 3, 9, 14)]


@contextlib.contextmanager
def empty_database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    if db.dialect.name == "sqlite":
        create_schema(db)
    else:
        with db.write() as conn:
            conn.execute(
                text(
                    "TRUNCATE events, users, rollups, event_times, person_ids, person_state,"
                    " person_properties RESTART IDENTITY"
                )
            )
    try:
        yield db
    finally:
        db.dispose()


raw_events = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.integers(0, 11),  # user
        st.integers(0, 75 * 24 * 60),  # minutes after BASE: ~2.5 months, crossing midnights
        st.sampled_from(OFFSETS),
        st.booleans(),  # carries an explicit event_id?
    ),
    max_size=120,
)


def to_events(raw: list[tuple[str, int, int, dt.timezone, bool]]) -> list[NormalizedEvent]:
    out = []
    for name, user, minutes, tz, with_id in raw:
        local = (BASE + dt.timedelta(minutes=minutes)).astimezone(tz)
        stamp = local.astimezone(dt.UTC)
        user_id = f"user-{user}"
        event_id = uuid.uuid4() if with_id else derive_event_id(name, user_id, local)
        out.append(NormalizedEvent(event_id, name, user_id, stamp, None, BASE))
    return out


def write_messily(store: EventStore, events: list[NormalizedEvent], rnd: random.Random) -> None:
    """Out of order, in uneven batches, with whole batches and single events sent again."""
    shuffled = events[:]
    rnd.shuffle(shuffled)
    batches = []
    while shuffled:
        size = rnd.randint(1, 25)
        batches.append(shuffled[:size])
        shuffled = shuffled[size:]
    for batch in batches:
        store.write(batch)
        if rnd.random() < 0.3:
            store.write(batch)  # a client retry
        if batch and rnd.random() < 0.3:
            store.write([rnd.choice(events)])  # a stray duplicate


def check_all_reports(
    service: AnalyticsService, events: list[NormalizedEvent], data: st.DataObject
) -> None:
    reference_events = [
        ref.Ev(e.event, e.user_id, e.timestamp) for e in {e.event_id: e for e in events}.values()
    ]
    first_day = (BASE - dt.timedelta(days=3)).date()
    since = first_day + dt.timedelta(days=data.draw(st.integers(0, 80), "since offset"))
    until = since + dt.timedelta(days=data.draw(st.integers(0, 50), "span"))
    dump = lambda model: model.model_dump(mode="json")  # noqa: E731
    for kind, window in (("dau", 1), ("wau", 7), ("mau", 30)):
        assert dump(service.active_users(kind, since, until)) == ref.active(
            reference_events, since, until, window
        )
    limit = data.draw(st.integers(1, 5), "limit")
    assert dump(service.top_events(since, until, limit)) == ref.top(
        reference_events, since, until, limit
    )
    period = data.draw(st.sampled_from(["day", "week", "month"]), "period")
    periods = data.draw(st.integers(1, 6), "periods")
    start_event = data.draw(st.none() | st.sampled_from(NAMES), "start_event")
    return_event = data.draw(st.none() | st.sampled_from(NAMES), "return_event")
    got = service.retention(since, until, period, periods, start_event, return_event)  # type: ignore[arg-type]
    assert dump(got) == ref.retention(
        reference_events, since, until, period, periods, start_event, return_event
    )


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=raw_events, seed=st.integers(0, 2**32), data=st.data())
def test_reports_match_the_reference(
    db_url: str, raw: list, seed: int, data: st.DataObject
) -> None:  # type: ignore[type-arg]
    events = to_events(raw)
    with empty_database(db_url) as db:
        write_messily(EventStore(db), events, random.Random(seed))
        check_all_reports(AnalyticsService(db), events, data)


@pytest.mark.parametrize("seed", range(3))
def test_a_warm_service_sees_late_events_and_merges(db_url: str, seed: int) -> None:
    """One service (one bitmap cache, with the unions of settled days it keeps) asked again
    after late events on old days and after a compaction answers like the reference."""
    rnd = random.Random(seed)

    def some(count: int, days: int) -> list[tuple[str, int, int, dt.timezone, bool]]:
        return [
            (rnd.choice(NAMES), rnd.randrange(40), rnd.randrange(days * 24 * 60), dt.UTC, True)
            for _ in range(count)
        ]

    early, late = to_events(some(400, 40)), to_events(some(60, 40))
    since, until = BASE.date(), (BASE + dt.timedelta(days=39)).date()
    dump = lambda model: model.model_dump(mode="json")  # noqa: E731
    with empty_database(db_url) as db:
        service = AnalyticsService(db)
        seen: list[NormalizedEvent] = []
        for batch in (early, early[:0], late, None):
            if batch is None:
                settle(db, until + dt.timedelta(days=1))
            else:
                write_messily(EventStore(db), batch, rnd)
                seen += batch
            reference = [ref.Ev(e.event, e.user_id, e.timestamp) for e in seen]
            for start in (since, since + dt.timedelta(days=9)):
                assert dump(service.top_events(start, until, 4)) == ref.top(
                    reference, start, until, 4
                )


def test_retention_worked_example() -> None:
    """DESIGN.md's definitions on a small case worked out by hand."""
    day = lambda d: dt.datetime(2026, 11, d, 10, tzinfo=dt.UTC)  # noqa: E731  Nov 2 2026 is a Monday
    rows = [
        ("signup", "ann", day(2)),
        ("view", "ann", day(10)),
        ("view", "ann", day(17)),
        ("signup", "bob", day(4)),
        ("view", "bob", day(16)),
        ("view", "cat", day(1)),
        ("signup", "cat", day(9)),
        ("buy", "cat", day(10)),
    ]
    with empty_database("sqlite://") as db:
        EventStore(db).write([NormalizedEvent(uuid.uuid4(), n, u, t, None, t) for n, u, t in rows])
        service = AnalyticsService(db)
        weekly = service.retention(dt.date(2026, 11, 2), dt.date(2026, 11, 18), "week", 3)
        assert [(c.cohort.isoformat(), c.size, c.retained) for c in weekly.cohorts] == [
            ("2026-11-02", 2, [2, 1, 2]),  # ann and bob; cat first came on Nov 1 (week of Oct 26)
            ("2026-11-09", 0, [0, 0, None]),
            ("2026-11-16", 0, [0, None, None]),
        ]
        by_signup = service.retention(
            dt.date(2026, 11, 2), dt.date(2026, 11, 18), "week", 3, "signup", "view"
        )
        assert [(c.size, c.retained) for c in by_signup.cohorts] == [
            (2, [0, 1, 2]),
            (1, [0, 0, None]),
            (0, [0, None, None]),
        ]
