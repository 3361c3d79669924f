"""The `events` layouts for scaling out, on PostgreSQL: monthly partitions (`evana db partition`,
months dropped whole by `evana db drop-months`) and the Citus primary key (`event_id`,
`user_id`) that docs/operations.md gives as SQL, run word for word.

On either, evana's write path must store every event once and count it once — resends, retries
and derived ids included — and erasure and reports must stay exact. A dropped month's events
sent again are still duplicates. Citus itself is not installed here; what it adds (rows spread
over nodes by `user_id`) is what the primary key already allows, and no statement of evana's
relies on a uniqueness across nodes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from evana.server import Settings
from evana.server._batch import NormalizedEvent
from evana.server._storage import (
    Compactor,
    Database,
    add_months,
    drop_months,
    keep_months_ahead,
    partition_events,
    settle,
    upgrade,
)
from evana.server._storage._partitions import months
from tests._evana import run_evana
from tests.conftest import Api, make_api
from tests.server._pipeline import make_events, wire
from tests.server.test_access_data_rights import erase, reference, reports

pytestmark = pytest.mark.integration

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


def docs_sql(after: str) -> list[str]:
    """The statements of the first ``sql`` block of docs/operations.md after ``after``."""
    doc = OPERATIONS.read_text()
    start = doc.index(after)
    block = re.search(r"```sql\n(.*?)```", doc[start:], re.DOTALL)
    assert block, f"no sql block after {after!r}"
    code = "\n".join(line.split("--")[0] for line in block.group(1).splitlines())
    # Split at semicolons outside a $$-quoted function body.
    parts = re.split(r";\s*\n(?=(?:[^$]*\$\$[^$]*\$\$)*[^$]*$)", code)
    return [part.strip() for part in parts if part.strip()]


def citus_keys() -> list[str]:
    """The guide's statements for Citus, less Citus's own functions (they need the extension)."""
    return [
        s
        for s in docs_sql("**Beyond one database: distributed PostgreSQL.**")
        if "create_distributed_table" not in s and "create_reference_table" not in s
    ]


@pytest.fixture
def pg_api(pg_fresh_url: str) -> Iterator[Api]:
    db = Database(pg_fresh_url)
    upgrade(db)
    db.dispose()
    yield from make_api(
        Settings(database_url=pg_fresh_url, max_batch_events=100, max_body_bytes=64 * 1024)
    )


def database_of(api: Api) -> Database:
    return api.client.app_state["evana"].db  # type: ignore[attr-defined,no-any-return]


def uuid7_at(when: dt.datetime, rnd: random.Random) -> uuid.UUID:
    """A UUIDv7 minted at ``when`` (what the SDK makes at that time)."""
    ms = int(when.timestamp() * 1000)
    counter, tail = rnd.getrandbits(12), rnd.getrandbits(62)
    return uuid.UUID(int=ms << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | tail)


def tracked_in(
    events: list[NormalizedEvent], month: int, rnd: random.Random, year: int = 2026
) -> None:
    """Give ``events`` UUIDv7 ids minted in ``month`` of ``year`` (their timestamps stay)."""
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    for i, event in enumerate(events):
        minted = start + dt.timedelta(seconds=rnd.randrange(28 * 86400))
        events[i] = dataclasses.replace(event, event_id=uuid7_at(minted, rnd))


def rows(api: Api, table: str) -> int:
    with database_of(api).read() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def send(api: Api, batch: list[dict[str, object]]) -> None:
    for start in range(0, len(batch), 100):
        answer = api.post_events(batch[start : start + 100])
        assert answer.status_code == 202, answer.text
        assert answer.json()["rejected"] == [], answer.text


def test_partitioned_events_count_every_event_once_and_drop_months_whole(pg_api: Api) -> None:
    api = pg_api
    rnd = random.Random(18)
    november = make_events(150, users=20, days=20, seed=1)
    december = make_events(150, users=20, days=20, seed=2)
    tracked_in(november, 11, rnd)
    tracked_in(december, 12, rnd)
    random_ids = make_events(100, users=20, days=20, seed=3)  # UUIDv4, as some SDKs send
    # One random id that happens to lie in November's range: kept when November is dropped.
    odd = november[0].event_id.int & ~(0xF << 76) | 0x4 << 76
    random_ids[0] = dataclasses.replace(random_ids[0], event_id=uuid.UUID(int=odd))
    derived = make_events(100, users=20, days=20, seed=4)  # no id: the server derives one
    derived_wire = [{k: v for k, v in wire(e).items() if k != "event_id"} for e in derived]
    everything = november + december + random_ids + derived

    # Some events before the table is partitioned: the conversion copies them.
    send(api, [wire(e) for e in november[:50] + random_ids[:50]])
    db = database_of(api)
    assert partition_events(db, dt.date(2026, 12, 15), ahead=1)
    assert not partition_events(db, dt.date(2026, 12, 15), ahead=1)  # once only

    first = [wire(e) for e in november + december + random_ids] + derived_wire
    rnd.shuffle(first)
    send(api, first)
    # Everything again, in other batches: a retry, a replay, a file ingested twice.
    rnd.shuffle(first)
    send(api, first)
    assert rows(api, "events") == len(everything)
    assert reports(api.client, api.read) == reference(everything)
    # Each month's SDK events in their month, the rest (no time in the id) in the default.
    assert rows(api, "events_2026_11") == len(november) + 1
    assert rows(api, "events_2026_12") == len(december)
    assert rows(api, "events_2027_01") == 0
    assert rows(api, "events_other") == len(random_ids) - 1 + len(derived)

    # An event of a month with no partition yet waits in the default one; the partition,
    # once added (the compactor does it at each month's turn), takes it over.
    march = make_events(3, users=20, days=20, seed=5)
    tracked_in(march, 3, rnd, year=2027)
    send(api, [wire(e) for e in march])
    added = keep_months_ahead(db, dt.date(2027, 3, 2), ahead=0)
    assert added == ["events_2027_02", "events_2027_03"]
    assert rows(api, "events_2027_03") == len(march)
    everything += march

    # Erasure deletes a user's rows wherever they lie.
    gone = "user-7"
    assert erase(api, gone).status_code == 200
    kept = [e for e in everything if e.user_id != gone]
    assert reports(api.client, api.read) == reference(kept)

    # Dropping November takes its raw events (but not the odd random id) and no count.
    dropped = drop_months(db, dt.date(2026, 12, 1))
    assert [(month.name, held) for month, held in dropped] == [
        ("events_2026_11", sum(e.user_id != gone for e in november) + 1)
    ]
    assert drop_months(db, dt.date(2026, 12, 1)) == []
    assert rows(api, "events_2026_11") == 1
    settle(db, before=dt.date(2027, 1, 1))
    assert reports(api.client, api.read) == reference(kept)
    # November's events sent again are still duplicates, alone (the COPY meets the check)
    # or among new events and stored ones (the INSERT ... ON CONFLICT path does).
    send(api, [wire(e) for e in november])
    assert reports(api.client, api.read) == reference(kept)
    fresh = make_events(40, users=20, days=20, seed=6)
    # (An erased user's stored events sent again count again, as anywhere: not December's.)
    stored = [e for e in december if e.user_id != gone]
    mixed = [wire(e) for e in november[:30] + stored[:30] + fresh]
    rnd.shuffle(mixed)
    before = rows(api, "events")
    send(api, mixed)
    assert rows(api, "events") == before + len(fresh)
    assert reports(api.client, api.read) == reference(kept + fresh)
    assert rows(api, "events_2026_11") == 1
    # The odd random id is kept, so it is a duplicate as always.
    send(api, [wire(random_ids[0])])
    assert reports(api.client, api.read) == reference(kept + fresh)
    # A month before the oldest partition (history stored later) can be given its own.
    assert add_months(db, [dt.date(2026, 10, 31), dt.date(2026, 11, 3)]) == ["events_2026_10"]
    assert add_months(db, [dt.date(2026, 10, 1)]) == []
    assert rows(api, "events_2026_10") == 0


def test_citus_primary_key_keeps_every_event_once(pg_api: Api) -> None:
    api = pg_api
    with database_of(api).write() as conn:
        for statement in citus_keys():
            conn.execute(text(statement))
    rnd = random.Random(19)
    events = make_events(300, users=20, days=20, seed=7)
    derived = make_events(100, users=20, days=20, seed=8)
    batch = [wire(e) for e in events] + [
        {k: v for k, v in wire(e).items() if k != "event_id"} for e in derived
    ]
    for _ in range(2):
        rnd.shuffle(batch)
        send(api, batch)
    assert rows(api, "events") == len(events) + len(derived)
    assert reports(api.client, api.read) == reference(events + derived)
    assert erase(api, "user-3").status_code == 200
    kept = [e for e in events + derived if e.user_id != "user-3"]
    assert reports(api.client, api.read) == reference(kept)


def test_partition_commands(pg_fresh_url: str, tmp_path: Path) -> None:
    env = {"EVANA_DATABASE_URL": pg_fresh_url}
    assert run_evana("db", "upgrade", env=env).returncode == 0
    made = run_evana("db", "partition", "--months-ahead", "1", env=env)
    assert made.returncode == 0, made.stderr
    assert "Partitioned the events table by month." in made.stdout
    this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
    assert f"events_{this_month:%Y_%m}" in made.stdout
    again = run_evana("db", "partition", "--months-ahead", "1", env=env)
    assert again.returncode == 0
    assert "Up to date." in again.stdout
    last = (this_month - dt.timedelta(days=1)).replace(day=1)
    none = run_evana("db", "drop-months", "--before", f"{this_month:%Y-%m}", env=env)
    assert none.returncode == 0
    assert "No month before" in none.stdout
    after = this_month + dt.timedelta(days=32)
    gone = run_evana("db", "drop-months", "--before", f"{after:%Y-%m}", env=env)
    assert gone.returncode == 0, gone.stderr
    assert f"Dropped events_{this_month:%Y_%m}: 0 raw events." in gone.stdout
    assert f"events_{last:%Y_%m}" not in gone.stdout

    bad = run_evana("db", "drop-months", "--before", "2026-13", env=env)
    assert bad.returncode == 2
    assert "YYYY-MM" in bad.stderr
    assert "Traceback" not in bad.stderr
    sqlite = {"EVANA_DATABASE_URL": f"sqlite:///{tmp_path}/evana.db"}
    assert run_evana("db", "upgrade", env=sqlite).returncode == 0
    refused = run_evana("db", "partition", env=sqlite)
    assert refused.returncode == 1
    assert "needs PostgreSQL" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_compactor_keeps_months_ready(pg_fresh_url: str) -> None:
    db = Database(pg_fresh_url)
    try:
        upgrade(db)
        Compactor(db, today=lambda: dt.date(2027, 1, 5)).run()  # not partitioned: nothing
        with db.read() as conn:
            assert months(conn) == []
        partition_events(db, dt.date(2026, 12, 15), ahead=0)
        # Its first pass (and every 30th) adds what is missing, gaps included.
        Compactor(db, today=lambda: dt.date(2027, 3, 5)).run()
        with db.read() as conn:
            names = [month.name for month in months(conn)]
        assert names == [
            f"events_{m}"
            for m in ("2026_12", "2027_01", "2027_02", "2027_03", "2027_04", "2027_05")
        ]
    finally:
        db.dispose()
