"""The `events` layouts docs/operations.md gives for scaling out, run word for word on PostgreSQL.

"PostgreSQL, partitioned by time" converts `events` into monthly partitions by the time in a
UUIDv7 id; "Beyond one database" makes its primary key (`event_id`, `user_id`) for Citus. On
either, evana's unchanged write path must still store every event once and count it once —
resends, retries and derived ids included — and erasure and reports must stay exact. Citus
itself is not installed here; what it adds (rows spread over nodes by `user_id`) is what the
primary key already allows, and no statement of evana's relies on a uniqueness across nodes.
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
from evana.server._storage import Database, settle, upgrade
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


def layout_statements(layout: str) -> list[str]:
    if layout == "partitioned":
        return [
            s
            for s in docs_sql("**PostgreSQL, partitioned by time.**")
            if s not in ("BEGIN", "COMMIT")
        ]
    # Citus's own functions are left out: they need the extension, not evana.
    return [
        s
        for s in docs_sql("**Beyond one database: distributed PostgreSQL.**")
        if "create_distributed_table" not in s and "create_reference_table" not in s
    ]


@pytest.fixture
def layout_api(request: pytest.FixtureRequest, pg_fresh_url: str) -> Iterator[Api]:
    db = Database(pg_fresh_url)
    upgrade(db)
    with db.write() as conn:
        for statement in layout_statements(request.param):
            conn.execute(text(statement))
    db.dispose()
    yield from make_api(
        Settings(database_url=pg_fresh_url, max_batch_events=100, max_body_bytes=64 * 1024)
    )


def uuid7_at(when: dt.datetime, rnd: random.Random) -> uuid.UUID:
    """A UUIDv7 minted at ``when`` (what the SDK makes at that time)."""
    ms = int(when.timestamp() * 1000)
    counter, tail = rnd.getrandbits(12), rnd.getrandbits(62)
    return uuid.UUID(int=ms << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | tail)


def tracked_in(events: list[NormalizedEvent], month: int, rnd: random.Random) -> None:
    """Give ``events`` UUIDv7 ids minted in ``month`` of 2026 (their timestamps stay)."""
    start = dt.datetime(2026, month, 1, tzinfo=dt.UTC)
    for i, event in enumerate(events):
        minted = start + dt.timedelta(seconds=rnd.randrange(28 * 86400))
        events[i] = dataclasses.replace(event, event_id=uuid7_at(minted, rnd))


def rows(api: Api, table: str) -> int:
    db = api.client.app_state["evana"].db  # type: ignore[attr-defined]
    with db.read() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def send(api: Api, batch: list[dict[str, object]]) -> None:
    for start in range(0, len(batch), 100):
        answer = api.post_events(batch[start : start + 100])
        assert answer.status_code == 202, answer.text
        assert answer.json()["rejected"] == [], answer.text


@pytest.mark.parametrize("layout_api", ["partitioned", "citus_keys"], indirect=True)
def test_documented_layouts_store_and_count_every_event_once(
    layout_api: Api, request: pytest.FixtureRequest
) -> None:
    api = layout_api
    layout = request.node.callspec.params["layout_api"]
    rnd = random.Random(18)
    november = make_events(150, users=20, days=20, seed=1)
    december = make_events(150, users=20, days=20, seed=2)
    tracked_in(november, 11, rnd)
    tracked_in(december, 12, rnd)
    random_ids = make_events(100, users=20, days=20, seed=3)  # UUIDv4, as some SDKs send
    derived = make_events(100, users=20, days=20, seed=4)  # no id: the server derives one
    derived_wire = [{k: v for k, v in wire(e).items() if k != "event_id"} for e in derived]
    everything = november + december + random_ids + derived

    first = [wire(e) for e in november + december + random_ids] + derived_wire
    rnd.shuffle(first)
    send(api, first)
    # Everything again, in other batches: a retry, a replay, a file ingested twice.
    rnd.shuffle(first)
    send(api, first)
    assert rows(api, "events") == len(everything)
    assert reports(api.client, api.read) == reference(everything)

    if layout == "partitioned":
        # Each month's SDK events in their month, the rest (no time in the id) in the default.
        assert rows(api, "events_2026_11") == len(november)
        assert rows(api, "events_2026_12") == len(december)
        assert rows(api, "events_other") == len(random_ids) + len(derived)

    # Erasure deletes a user's rows wherever they lie.
    gone = "user-7"
    assert erase(api, gone).status_code == 200
    kept = [e for e in everything if e.user_id != gone]
    assert reports(api.client, api.read) == reference(kept)
    send(api, [wire(e) for e in november + december if e.user_id != gone])
    assert reports(api.client, api.read) == reference(kept)

    if layout == "partitioned":
        # Dropping a month takes its raw events and changes no report, compacted or not.
        with api.client.app_state["evana"].db.write() as conn:  # type: ignore[attr-defined]
            conn.execute(text("DROP TABLE events_2026_11"))
        assert rows(api, "events") == len(kept) - sum(e.user_id != gone for e in november)
        settle(api.client.app_state["evana"].db, before=dt.date(2027, 1, 1))  # type: ignore[attr-defined]
        assert reports(api.client, api.read) == reference(kept)
