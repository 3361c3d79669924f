"""Dropping old raw events (docs/operations.md, "Retention of raw events") changes no report.

Reports are read from the rollups only, so the ``events`` table can be trimmed to save space.
What trimming does cost is shown too: a dropped event's id is forgotten, so the same event sent
again afterwards is counted again. Hence the advice to trim by ``received_at``, well past any
resend or replay.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from evana.server._storage import settle
from tests.conftest import Api
from tests.server._pipeline import BASE, make_events, wire
from tests.server.test_access_data_rights import reference, reports

#: The statement docs/operations.md gives (there with now() - interval '400 days' for :cutoff);
#: it is run until it deletes nothing.
TRIM = """
DELETE FROM events WHERE event_id IN (
    SELECT event_id FROM events
    WHERE "timestamp" < :cutoff AND received_at < :cutoff
    LIMIT 300)
"""

#: The embedded-mode (SQLite) statement of docs/operations.md, word for word.
SQLITE_TRIM = """DELETE FROM events WHERE timestamp < datetime('now', '-400 days')
                  AND received_at < datetime('now', '-400 days')"""


def trim(api: Api, statement: str, **params: object) -> int:
    db = api.client.app_state["evana"].db  # type: ignore[attr-defined]
    with db.write() as conn:
        return int(conn.execute(text(statement), params).rowcount)


def test_dropping_raw_events_changes_no_report(api: Api) -> None:
    events = make_events(800, users=15, days=20, seed=71)
    for start in range(0, len(events), 100):
        assert api.post_events([wire(e) for e in events[start : start + 100]]).status_code == 202
    before = reports(api.client, api.read)
    assert before == reference(events)

    # First the older half by event time, then everything by the documented statement.
    half = trim(api, "DELETE FROM events WHERE timestamp < :t", t=BASE + dt.timedelta(days=10))
    assert 0 < half < len(events)
    assert reports(api.client, api.read) == before
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    deleted = []
    while deleted[-1:] != [0]:
        deleted.append(trim(api, TRIM, cutoff=later))
    assert deleted[0] == 300
    assert sum(deleted) == len(events) - half
    assert reports(api.client, api.read) == before
    # Compaction merges rollup rows only: it needs no raw event either.
    settle(api.client.app_state["evana"].db, before=dt.date(2027, 1, 1))  # type: ignore[attr-defined]
    assert reports(api.client, api.read) == before

    # New events count as usual on top of the trimmed past ...
    fresh = make_events(100, users=15, days=20, seed=72)
    assert api.post_events([wire(e) for e in fresh]).status_code == 202
    assert reports(api.client, api.read) == reference(events + fresh)
    # ... but an old event sent again after its row was dropped is counted again: its id is
    # forgotten with it. Trim only what no client, file or dead letter will ever resend.
    assert api.post_events([wire(events[0])]).status_code == 202
    again = reports(api.client, api.read)
    assert again == reference([*events, *fresh, events[0]])
    assert again != reference(events + fresh)
    if api.client.app_state["evana"].db.dialect.name == "sqlite":  # type: ignore[attr-defined]
        # The embedded-mode statement of the docs compares SQLite's stored text with
        # datetime(): prove the two sort alike. Everything here arrived today, so it takes
        # nothing; moved a day ahead, it takes every row left.
        assert trim(api, SQLITE_TRIM) == 0
        left = len(fresh) + 1
        assert trim(api, SQLITE_TRIM.replace("-400 days", "+1 days")) == left
