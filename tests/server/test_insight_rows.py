"""Raw event reads for insights: the bulk read of named events (binary COPY on PostgreSQL)
returns exactly what the row-by-row read returns."""

from __future__ import annotations

import datetime as dt
import uuid

from evana.server._batch import NormalizedEvent
from evana.server._storage import Database, EventStore
from evana.server._storage._insight_rows import EventRows, load_event_rows

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def _triples(rows: EventRows) -> list[tuple[int, int, str]]:
    return sorted(
        zip(
            rows.uids.tolist(),
            rows.micros.tolist(),
            [rows.names[c] for c in rows.codes.tolist()],
            strict=True,
        )
    )


def test_named_events_read_in_bulk_equal_the_rows(database: Database) -> None:
    stamps = [START + dt.timedelta(hours=5 * i, microseconds=7 * i) for i in range(40)]
    EventStore(database).write(
        [
            NormalizedEvent(
                uuid.uuid4(), ["view", "buy", "é x"][i % 3], f"u{i % 7}", ts, {"n": i}, ts
            )
            for i, ts in enumerate(stamps)
        ]
    )
    first, last = dt.date(2026, 11, 3), dt.date(2026, 11, 6)
    with database.read() as conn:
        bulk = load_event_rows(conn, database.dialect, first, last, ["buy", "é x", "none"])
        rows = load_event_rows(
            conn, database.dialect, first, last, ["buy", "é x", "none"], with_properties=True
        )
        empty = load_event_rows(conn, database.dialect, first, last, ["none"])
    assert bulk.properties is None
    assert bulk.uids.dtype.name == "uint32"
    assert bulk.micros.dtype.name == "int64"
    assert _triples(bulk) == _triples(rows)
    assert len(bulk) == sum(
        1 for i, ts in enumerate(stamps) if i % 3 and first <= ts.date() <= last
    )
    assert len(empty) == 0
    assert not (bulk.codes == bulk.code_of("none")).any()
