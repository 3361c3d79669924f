"""The storage layer on both dialects: idempotent writes, exact rollups, migrations."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from evana.server._batch import NormalizedEvent
from evana.server._storage import (
    COMPACT_AFTER,
    Database,
    EventStore,
    RollupReader,
    head_revision,
    metadata,
    settle,
    upgrade,
)
from evana.server._storage._migrate import VERSION_TABLE
from evana.server._storage._tables import events, rollups, users

T0 = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def ev(
    name: str = "view",
    user: str = "u1",
    when: dt.datetime = T0,
    props: dict[str, object] | None = None,
) -> NormalizedEvent:
    return NormalizedEvent(uuid.uuid4(), name, user, when, props, T0)


def count(db: Database, table: object) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_writes_are_idempotent(database: Database) -> None:
    store = EventStore(database)
    batch = [ev(user=f"u{i % 7}", props={"i": i}) for i in range(50)]
    assert store.write(batch).inserted == 50
    again = store.write(batch)
    assert (again.inserted, again.duplicates) == (0, 50)
    assert count(database, events) == 50
    with database.read() as conn:
        by_day = RollupReader(conn, database.dialect).users_by_day("", None, dt.date(2027, 1, 1))
        top = RollupReader(conn, database.dialect).top_events(
            dt.date(2026, 1, 1), dt.date(2027, 1, 1), 5
        )
    assert len(by_day[T0.date()]) == 7
    assert top == [("view", 50)]


def test_a_batch_repeating_an_event_counts_it_once(database: Database) -> None:
    one = ev()
    result = EventStore(database).write([one, one, ev(), one])
    assert (result.events, result.inserted, result.duplicates) == (4, 2, 2)
    with database.read() as conn:
        assert RollupReader(conn, database.dialect).top_events(T0.date(), T0.date(), 5) == [
            ("view", 2)
        ]


def test_partly_new_batches_add_only_their_new_rows_to_rollups(database: Database) -> None:
    store = EventStore(database)
    old = [ev(user="a"), ev(user="b")]
    store.write(old)
    store.write([*old, ev(user="c", name="buy")])
    with database.read() as conn:
        reader = RollupReader(conn, database.dialect)
        assert reader.top_events(T0.date(), T0.date(), 10) == [("view", 2), ("buy", 1)]
        assert len(reader.users_by_day("", T0.date(), T0.date())[T0.date()]) == 3


def test_user_ids_are_dense_and_stable(database: Database) -> None:
    store = EventStore(database)
    first = store.user_ids(["x", "y", "z"])
    again = store.user_ids(["z", "w", "x"])
    assert sorted(first.values()) == [1, 2, 3]
    assert again["x"] == first["x"]
    assert again["z"] == first["z"]
    assert again["w"] == 4
    assert count(database, users) == 4


def test_compaction_merges_deltas_without_changing_counts(database: Database) -> None:
    store = EventStore(database)
    for i in range(COMPACT_AFTER * 3):
        store.write([ev(user=f"u{i % 5}")])
    store.compactor.run()
    with database.read() as conn:
        rows = conn.execute(
            select(func.count())
            .select_from(rollups)
            .where(rollups.c.day == T0.date(), rollups.c.event == "")
        ).scalar_one()
        reader = RollupReader(conn, database.dialect)
        assert reader.top_events(T0.date(), T0.date(), 1) == [("view", COMPACT_AFTER * 3)]
        assert len(reader.users_by_day("", None, T0.date())[T0.date()]) == 5
    assert rows <= COMPACT_AFTER


def test_events_land_on_their_utc_day(database: Database) -> None:
    late = dt.datetime(
        2026, 11, 2, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))
    )  # 04:30Z on the 3rd
    EventStore(database).write([ev(when=late.astimezone(dt.UTC))])
    with database.read() as conn:
        assert list(
            RollupReader(conn, database.dialect).users_by_day("", None, dt.date(2027, 1, 1))
        ) == [dt.date(2026, 11, 3)]


def test_properties_round_trip(database: Database) -> None:
    props = {
        "plan": "pro",
        "n": 3,
        "nested": {"ok": [1, 2.5, None, True]},
        "text": "héllo ✓",
        "escapes": 'tab\there, new\nline, back\\slash, "quotes"',
    }
    one = ev(props=props)
    EventStore(database).write([one, ev(props=None)])
    with database.read() as conn:
        stored = conn.execute(
            select(events.c.properties, events.c.timestamp).where(events.c.event_id == one.event_id)
        ).one()
    assert stored.properties == props
    assert stored.timestamp == T0


@pytest.mark.integration
def test_migrations_build_exactly_the_tables(pg_url: str, tmp_path: object) -> None:
    for url in (f"sqlite:///{tmp_path}/m.db", pg_url):
        db = Database(url)
        assert upgrade(db) == head_revision()
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata
            )
        db.dispose()
        assert diff == [], (url, diff)


def test_upgrade_is_repeatable(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/r.db")
    assert upgrade(db) == upgrade(db) == head_revision()
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM evana_alembic_version")).scalar_one() == 1


def test_settle_merges_finished_days_to_one_row_per_key(database: Database) -> None:
    store = EventStore(database)
    for i in range(5):
        store.write([ev(user=f"u{i}"), ev(user=f"u{i}", name="buy")])
    # Rollups: "", view and buy; event times: view and buy.
    assert settle(database, before=T0.date() + dt.timedelta(days=1)) == 5
    with database.read() as conn:
        rows = conn.execute(select(rollups.c.event, func.count()).group_by(rollups.c.event)).all()
        reader = RollupReader(conn, database.dialect)
        assert len(reader.users_by_day("", None, T0.date())[T0.date()]) == 5
        assert reader.top_events(T0.date(), T0.date(), 5) == [("buy", 5), ("view", 5)]
    assert sorted(rows) == [("", 1), ("buy", 1), ("view", 1)]
    assert settle(database, before=T0.date() + dt.timedelta(days=1)) == 0


def test_rollup_row_ids_are_never_reused(database: Database) -> None:
    # The bitmap cache relies on it: a merged row must get a fresh id, even where the merge
    # deleted the rows with the highest ids (SQLite reuses those unless AUTOINCREMENT).
    store = EventStore(database)
    for i in range(3):
        store.write([ev(user=f"u{i}")])
    with database.read() as conn:
        before = set(conn.execute(select(rollups.c.id)).scalars())
    settle(database, before=T0.date() + dt.timedelta(days=1))
    with database.read() as conn:
        after = set(conn.execute(select(rollups.c.id)).scalars())
    assert after.isdisjoint(before)


def test_cached_reports_stay_exact_across_writes_and_compactions(database: Database) -> None:
    from evana.server._analytics import AnalyticsService

    service = AnalyticsService(database)  # one cache for the whole test
    store = EventStore(database)
    day = T0.date()
    users: set[str] = set()
    for i in range(COMPACT_AFTER * 3):
        user = f"u{i % 11}"
        users.add(user)
        store.write([ev(user=user, when=T0 + dt.timedelta(days=i % 2))])
        if i % 5 == 4:
            settle(database, before=day + dt.timedelta(days=2))
        mau = service.active_users("mau", day, day + dt.timedelta(days=1)).series[-1].users
        assert mau == len(users)
    assert len(service.cache) > 0


def test_a_batch_mixing_new_and_stored_ids_takes_the_idempotent_path(database: Database) -> None:
    # On PostgreSQL the fast path COPYs straight into `events` and falls back to staging when
    # an id is already stored: both paths must agree on what is new and on every rollup.
    store = EventStore(database)
    stored = [ev(user=f"s{i}", props={"i": i, "t": "a\tb\\c"}) for i in range(20)]
    store.write(stored)
    fresh = [ev(user=f"f{i}", name="buy") for i in range(7)]
    result = store.write([*stored[::2], *fresh])
    assert (result.inserted, result.duplicates) == (7, 10)
    with database.read() as conn:
        reader = RollupReader(conn, database.dialect)
        assert reader.top_events(T0.date(), T0.date(), 5) == [("view", 20), ("buy", 7)]
        assert len(reader.users_by_day("", T0.date(), T0.date())[T0.date()]) == 27
    assert count(database, events) == 27


def test_the_bitmap_cache_forgets_rows_merged_away(database: Database) -> None:
    from evana.server._analytics import AnalyticsService

    service = AnalyticsService(database)
    store = EventStore(database)
    day = T0.date()
    for i in range(COMPACT_AFTER * 2):
        store.write([ev(user=f"u{i}")])
        service.active_users("dau", day, day)
        service.top_events(day, day, 5)
    settle(database, before=day + dt.timedelta(days=1))
    service.active_users("dau", day, day)
    service.top_events(day, day, 5)
    with database.read() as conn:
        live = set(conn.execute(select(rollups.c.id)).scalars())
    cached = set(service.cache._items)
    assert cached <= live  # nothing dead is kept
    assert len(cached) == len(live) == 2  # one merged row each for "" and "view"


@pytest.mark.parametrize("fate", ["deleted", "replaced"])
def test_a_sqlite_file_gone_from_under_the_database_refuses_writes(tmp_path, fate: str) -> None:
    from evana.errors import TransientStorageError

    path = tmp_path / "evana.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    store = EventStore(db)
    assert store.write([ev("view", "ann", T0)]).inserted == 1
    db.ping()
    path.unlink()
    if fate == "replaced":
        path.write_bytes(b"")
    # The open connection could still write into the unlinked inode: acknowledged, then lost.
    with pytest.raises(TransientStorageError, match=f"was {fate}"):
        store.write([ev("view", "bob", T0)])
    with pytest.raises(TransientStorageError, match=f"was {fate}"):
        db.ping()
    db.dispose()


def test_upgrading_packs_the_property_rollups_of_each_property(
    db_url: str, tmp_path: object, request: pytest.FixtureRequest
) -> None:
    """Rows of revision 0005's form (one per value, several per value before compaction) are
    packed into one row per (day, event, property) with the same counts and users, which the
    insights' reader answers from; a downgrade unpacks them again."""
    from pyroaring import BitMap
    from sqlalchemy import insert

    from evana.server._storage import PropertyReader
    from evana.server._storage._migrate import downgrade
    from evana.server._storage._packs import unpack
    from evana.server._storage._tables import property_rollups, tracked_properties

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/old.db"
    else:
        url = request.getfixturevalue("pg_fresh_url")  # a database never migrated
    one, two = T0.date(), T0.date() + dt.timedelta(days=1)
    old = [
        (one, 'buy\x1fplan\x1f"pro"', 3, [1, 2]),
        (one, 'buy\x1fplan\x1f"pro"', 1, [5]),  # a second delta of the same value
        (one, "buy\x1fplan\x1fnull", 2, [7]),
        (one, 'a\x1fb\x1fplan\x1f"free"', 1, [9]),  # an event name holding U+001F
        (two, 'buy\x1fcountry\x1f"FR"', 4, [1, 9]),
    ]
    db = Database(url)
    try:
        upgrade(db, "0005")
        with db.write() as conn:
            conn.execute(
                insert(property_rollups),
                [
                    {"day": d, "event": k, "events": n, "users": BitMap(u).serialize()}
                    for d, k, n, u in old
                ],
            )
            conn.execute(
                insert(tracked_properties),
                [
                    {"property": p, "kind": "values", "complete_through": None, "ready": True}
                    for p in ("plan", "country")
                ],
            )
        assert upgrade(db) == head_revision()
        columns = (property_rollups.c.day, property_rollups.c.event, property_rollups.c.users)
        with db.read() as conn:
            rows = {(d, k): unpack(b) for d, k, b in conn.execute(select(*columns))}
            plans = PropertyReader(conn, db.dialect).values("buy", "plan", None, two)
        assert rows == {
            (one, "buy\x1fplan"): {'"pro"': (4, BitMap([1, 2, 5])), "null": (2, BitMap([7]))},
            (one, "a\x1fb\x1fplan"): {'"free"': (1, BitMap([9]))},
            (two, "buy\x1fcountry"): {'"FR"': (4, BitMap([1, 9]))},
        }
        assert plans == {'"pro"': {one: (4, BitMap([1, 2, 5]))}, "null": {one: (2, BitMap([7]))}}
        assert downgrade(db, "0005") == "0005"
        with db.read() as conn:
            back = sorted(
                (d, k, n, list(BitMap.deserialize(u)))
                for d, k, n, u in conn.execute(
                    select(*columns[:2], property_rollups.c.events, columns[2])
                )
            )
        assert back == sorted([(one, 'buy\x1fplan\x1f"pro"', 4, [1, 2, 5]), *old[2:]])
    finally:
        db.dispose()


def test_property_rollup_rows_get_their_counts_and_rows_without_are_still_read_right(
    db_url: str, tmp_path: object, request: pytest.FixtureRequest
) -> None:
    """Upgrading to 0008 stores each packed row's counts beside it; a count of events reads
    those alone, and a row appended without them (by a worker of an older version) has its
    counts taken from its values, so both readings agree with the users' reading."""
    from pyroaring import BitMap
    from sqlalchemy import insert

    from evana.server._storage import BitmapCache, PropertyReader
    from evana.server._storage._migrate import downgrade
    from evana.server._storage._packs import pack, tally, unpack_tally
    from evana.server._storage._tables import property_rollups, tracked_properties

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/old.db"
    else:
        url = request.getfixturevalue("pg_fresh_url")  # a database never migrated
    one, two = T0.date(), T0.date() + dt.timedelta(days=1)
    packed = {'"pro"': (3, BitMap([1, 2])), "null": (1, BitMap([7]))}
    db = Database(url)
    try:
        upgrade(db, "0007")
        with db.write() as conn:
            row = {"day": one, "event": "buy\x1fplan", "events": 4, "users": pack(packed)}
            conn.execute(insert(property_rollups), [row])  # as 0007 stored it: no counts
            conn.execute(
                insert(tracked_properties),
                [{"property": "plan", "kind": "values", "complete_through": None, "ready": True}],
            )
        assert upgrade(db) == head_revision()
        with db.write() as conn:
            counts = conn.execute(select(property_rollups.c.counts)).scalar_one()
            assert unpack_tally(counts) == {'"pro"': 3, "null": 1}
            # A row of an older worker, written after the upgrade: no counts.
            later = {'"pro"': (2, BitMap([2, 9]))}
            conn.execute(
                insert(property_rollups),
                [{"day": two, "event": "buy\x1fplan", "events": 2, "users": pack(later)}],
            )
            db.dialect.append_rollups(
                conn, [(two, "buy\x1fplan", 1, pack(packed))], property_rollups
            )
        with db.read() as conn:
            assert (
                conn.execute(select(property_rollups.c.counts).where(property_rollups.c.day == two))
                .scalars()
                .all()
                .count(tally(pack(packed)))
                == 1
            )
            for cache in (None, BitmapCache()):
                reader = PropertyReader(conn, db.dialect, cache)
                for _ in range(2):  # the second time from the cache
                    counted = reader.tallies("buy", "plan", None, two)
                    assert counted is not None
                    assert sorted(counted) == [
                        (one, {'"pro"': 3, "null": 1}),
                        (two, {'"pro"': 5, "null": 1}),
                    ]
                users = reader.values("buy", "plan", None, two)
                assert users is not None
                assert {(d, t): n for t, by in users.items() for d, (n, _) in by.items()} == {
                    (d, t): n for d, counts in counted for t, n in counts.items()
                }
        assert downgrade(db, "0007") == "0007"
    finally:
        db.dispose()


def test_upgrading_rebuilds_number_rollups_with_their_multisets(
    db_url: str, tmp_path: object, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written before 0004 have no multiset: the upgrade drops them and marks the numeric
    properties for a backfill, which builds them again with one."""
    from sqlalchemy import insert

    from evana.server._storage import backfill, sync_tracked
    from evana.server._storage._numbers import number_summaries
    from evana.server._storage._tables import number_rollups, tracked_properties

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/old.db"
    else:
        url = request.getfixturevalue("pg_fresh_url")  # a database never migrated
    db = Database(url)
    try:
        upgrade(db, "0003")
        # As a writer of 0003's time did: its tables have no event times yet.
        monkeypatch.setattr("evana.server._storage._events.write_times", lambda *_: None)
        amounts = [(0, 4), (0, 2.5), (0, 4.0), (1, -7), (1, "x"), (1, 2**53 + 1)]
        EventStore(db).write(
            [
                ev("buy", f"u{i}", T0 + dt.timedelta(days=d), {"amount": amount})
                for i, (d, amount) in enumerate(amounts)
            ]
        )
        with db.write() as conn:  # as 0003 left a ready numeric property
            conn.execute(
                insert(tracked_properties).values(
                    property="amount", kind="number", complete_through=None, ready=True
                )
            )
            conn.execute(
                insert(number_rollups).values(
                    day=T0.date(),
                    event="buy\x1famount",
                    count=3,
                    ints=2,
                    int_sum="8",
                    scaled_sum="0",
                    low="2.5",
                    high="4",
                )
            )
        assert upgrade(db) == head_revision()
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(number_rollups)).scalar() == 0
            row = conn.execute(select(tracked_properties)).one()
            assert (row.complete_through, row.ready) == (None, False)
        assert sync_tracked(db, [], ["amount"]) == ["amount"]
        assert backfill(db) == 2
        with db.read() as conn:
            assert conn.execute(select(tracked_properties.c.ready)).scalar_one() is True
            found = number_summaries(conn, "buy", "amount", T0.date(), T0.date() + dt.timedelta(1))
        first, second = found[T0.date()], found[T0.date() + dt.timedelta(days=1)]
        assert first.values is not None
        assert first.values.items() == [(2.5, 1), (4.0, 1), (4, 1)]
        assert (first.math("median"), first.math("p90"), first.math("sum")) == (4, 4, 10.5)
        assert second.values is None  # 2**53 + 1: its percentiles are read from raw events
        assert second.math("max") == 2**53 + 1
    finally:
        db.dispose()


def test_upgrading_an_empty_database_keeps_numeric_properties_ready(tmp_path: object) -> None:
    from sqlalchemy import insert

    from evana.server._storage._tables import tracked_properties

    db = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        upgrade(db, "0003")
        with db.write() as conn:
            conn.execute(
                insert(tracked_properties).values(
                    property="amount", kind="number", complete_through=None, ready=True
                )
            )
        upgrade(db)
        with db.read() as conn:
            assert conn.execute(select(tracked_properties.c.ready)).scalar_one() is True
    finally:
        db.dispose()
