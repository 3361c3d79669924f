"""Persons: links in any order, any number of times, give the reports of a union-find reference."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evana.server._analytics import AnalyticsService
from evana.server._batch import NormalizedEvent
from evana.server._storage import (
    Database,
    EventStore,
    PersonDirectory,
    erase_user,
    read_person,
    user_events,
)

from .test_analytics import (
    BASE,
    check_all_reports,
    empty_database,
    raw_events,
    to_events,
    write_messily,
)

WHEN = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)

links = st.lists(
    st.tuples(
        st.integers(0, 11),
        st.integers(0, 11),
        st.sampled_from(["$identify", "$create_alias"]),
        st.integers(0, 75 * 24 * 60),
    ),
    max_size=14,
)


def link_event(a: int, b: int, kind: str, minutes: int) -> NormalizedEvent:
    """``user-a`` identifies as (or aliases) ``user-b``."""
    stamp = BASE + dt.timedelta(minutes=minutes)
    props = {"$anon_distinct_id": f"user-{b}"} if kind == "$identify" else {"alias": f"user-{b}"}
    return NormalizedEvent(uuid.uuid4(), kind, f"user-{a}", stamp, props, BASE)


def roots(pairs: list[tuple[int, int, str, int]]) -> dict[str, str]:
    """Union-find: each user's person, named by its smallest member (by number)."""
    parent = list(range(12))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b, _, _ in pairs:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {f"user-{u}": f"user-{find(u)}" for u in range(12)}


def as_persons(events: list[NormalizedEvent], person: dict[str, str]) -> list[NormalizedEvent]:
    """The events with each user id replaced by its person's (what the reports must count)."""
    return [
        NormalizedEvent(e.event_id, e.event, person[e.user_id], e.timestamp, None, e.received_at)
        for e in events
    ]


def partition(db: Database) -> set[frozenset[int]]:
    with db.read() as conn:
        persons = PersonDirectory(db).snapshot(conn)
    groups: dict[int, set[int]] = {}
    for uid, pid in persons.merged.items():
        groups.setdefault(pid, {pid}).add(uid)
    return {frozenset(g) for g in groups.values()}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=raw_events, pairs=links, seed=st.integers(0, 2**32), data=st.data())
def test_reports_count_persons_whatever_the_order_of_events_and_links(
    db_url: str,
    raw: list[Any],
    pairs: list[tuple[int, int, str, int]],
    seed: int,
    data: st.DataObject,
) -> None:
    events = to_events(raw)
    linking = [link_event(*pair) for pair in pairs]
    rnd = random.Random(seed)
    with empty_database(db_url) as db:
        store = EventStore(db)
        service = AnalyticsService(db)
        half, some = len(events) // 2, len(pairs) // 2
        # Some activity first (reports read, caches warm), then some links and the rest,
        # messily (reports read again: persons translated and remembered), then more links.
        write_messily(store, events[:half], rnd)
        check_all_reports(service, events[:half], data)
        write_messily(store, events[half:] + linking[:some] + linking[: some // 2], rnd)
        check_all_reports(service, as_persons(events, roots(pairs[:some])), data)
        check_all_reports(service, as_persons(events, roots(pairs[:some])), data)
        write_messily(store, linking[some:] + linking[: len(linking) // 2], rnd)
        person = roots(pairs)
        check_all_reports(service, as_persons(events, person), data)
        # Person numbers are the smallest uid: check the grouping against the reference.
        uids = store.user_ids(person)
        expected = {
            frozenset(uids[u] for u in person if person[u] == root) for root in set(person.values())
        }
        assert partition(db) == {g for g in expected if len(g) > 1}


def _ev(user: str, name: str, minute: int, props: dict[str, Any] | None = None) -> NormalizedEvent:
    return NormalizedEvent(
        uuid.uuid4(), name, user, WHEN + dt.timedelta(minutes=minute), props, WHEN
    )


def test_a_signup_flow_counts_one_person_everywhere(database: Database) -> None:
    store = EventStore(database)
    store.write([_ev("anon-1", "pageview", 0), _ev("anon-1", "signup", 1)])
    store.write([_ev("u-1", "$identify", 2, {"$anon_distinct_id": "anon-1"})])
    store.write([_ev("u-1", "purchase", 3), _ev("u-1", "pageview", 60 * 24)])
    service = AnalyticsService(database)
    day = WHEN.date()
    dau = service.active_users("dau", day, day + dt.timedelta(days=1))
    assert [row.users for row in dau.series] == [1, 1]
    assert service.active_users("wau", day, day).series[0].users == 1
    top = {row.event: row.users for row in service.top_events(day, day, 10).events}
    assert top == {"pageview": 1, "signup": 1, "purchase": 1}
    retention = service.retention(day, day + dt.timedelta(days=1), "day", 2)
    assert [(c.size, c.retained) for c in retention.cohorts] == [(1, [1, 1]), (0, [0, None])]


def test_person_properties_merge_by_time_not_arrival(database: Database) -> None:
    store = EventStore(database)
    late = _ev("u", "$set", 50, {"$set": {"plan": "team"}, "$set_once": {"first": "late"}})
    early = _ev("anon", "pageview", 5, {"$set": {"plan": "free"}, "$set_once": {"first": "early"}})
    once_only = _ev("anon", "x", 1, {"$set_once": {"plan": "ignored", "ref": "ads"}})
    store.write([late])
    store.write([early, once_only])
    store.write([_ev("u", "$identify", 60, {"$anon_distinct_id": "anon"})])
    person = read_person(database, "anon")
    assert person is not None
    assert sorted(person.distinct_ids) == ["anon", "u"]
    # $set: latest wins; $set_once: earliest wins; any $set beats every $set_once.
    assert person.properties == {"plan": "team", "first": "early", "ref": "ads"}
    assert person.first_seen == WHEN + dt.timedelta(minutes=1)
    assert person.last_seen == WHEN + dt.timedelta(minutes=60)


def test_equal_times_are_settled_by_event_id(database: Database) -> None:
    store = EventStore(database)
    low = NormalizedEvent(
        uuid.UUID(int=1),
        "$set",
        "u",
        WHEN,
        {"$set": {"plan": "low"}, "$set_once": {"o": "low"}},
        WHEN,
    )
    high = NormalizedEvent(
        uuid.UUID(int=2),
        "$set",
        "u",
        WHEN,
        {"$set": {"plan": "high"}, "$set_once": {"o": "high"}},
        WHEN,
    )
    store.write([high])
    store.write([low])
    person = read_person(database, "u")
    assert person is not None
    assert person.properties == {"plan": "high", "o": "low"}


def test_erasing_any_id_erases_the_whole_person(database: Database) -> None:
    store = EventStore(database)
    store.write([_ev("anon", "pageview", 0), _ev("other", "pageview", 0)])
    store.write([_ev("u", "$create_alias", 1, {"alias": "anon", "$set": {"plan": "pro"}})])
    store.write([_ev("u", "purchase", 2)])
    exported = list(user_events(database, "anon"))
    assert sorted(e["user_id"] for e in exported) == ["anon", "u", "u"]
    erasure = erase_user(database, "anon")
    assert erasure.events == 3
    assert read_person(database, "u") is None
    assert read_person(database, "anon") is None
    assert list(user_events(database, "u")) == []
    service = AnalyticsService(database)
    day = WHEN.date()
    assert service.active_users("dau", day, day).series[0].users == 1  # "other" alone
    assert partition(database) == set()
    # The ids may come back: as new, separate people.
    store.write([_ev("u", "pageview", 3), _ev("anon", "pageview", 3)])
    assert service.active_users("dau", day, day).series[0].users == 3
    assert read_person(database, "u") is not None
    assert read_person(database, "u").distinct_ids == ["u"]  # type: ignore[union-attr]


def test_unknown_and_self_links_change_nothing(database: Database) -> None:
    store = EventStore(database)
    store.write([_ev("u", "$identify", 0, {"$anon_distinct_id": "u"})])
    store.write([_ev("u", "$identify", 0, {"$anon_distinct_id": 42})])
    store.write([_ev("u", "$create_alias", 0, {"alias": None})])
    person = read_person(database, "42")
    assert person is not None
    assert sorted(person.distinct_ids) == ["42", "u"]
    assert read_person(database, "never-seen") is None


def test_upgrading_applies_links_and_properties_stored_before_persons(
    db_url: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    from sqlalchemy import insert

    from evana.server._storage import upgrade
    from evana.server._storage._tables import events

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("pg_fresh_url")  # a database never migrated
    db = Database(url)
    try:
        upgrade(db, "0001")
        rows = [
            _ev("anon", "pageview", 0),
            _ev("u", "$identify", 1, {"$anon_distinct_id": "anon", "$set": {"plan": "pro"}}),
            _ev("u", "purchase", 2, {"$set_once": {"ref": "ads"}}),
            _ev("x", "$create_alias", 3, {"alias": "y"}),
        ]
        with db.write() as conn:
            conn.execute(
                insert(events),
                [
                    {
                        "event_id": e.event_id,
                        "event": e.event,
                        "user_id": e.user_id,
                        "timestamp": e.timestamp,
                        "properties": e.properties,
                        "received_at": e.received_at,
                    }
                    for e in rows
                ],
            )
        upgrade(db)
        person = read_person(db, "anon")
        assert person is not None
        assert sorted(person.distinct_ids) == ["anon", "u"]
        assert person.properties == {"plan": "pro", "ref": "ads"}
        other = read_person(db, "y")
        assert other is not None
        assert sorted(other.distinct_ids) == ["x", "y"]
    finally:
        db.dispose()
