"""An API per dialect for the insight tests, and helpers to fill it with events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from evana._settings import Settings
from evana.server._storage import PersonMap
from tests.conftest import Api, make_api

from .reference import Ev


@pytest.fixture
def iapi(db_url: str) -> Iterator[Api]:
    """The API on each dialect, with room for big batches. ``plan`` has property rollups and
    ``amount`` number rollups, so a query whose filters and breakdown all name ``plan``, or
    whose sum, avg, min, max or percentile of ``amount`` has no filter, is answered from them,
    while any other reads raw events: both paths meet one reference."""
    yield from make_api(
        Settings(
            database_url=db_url,
            max_batch_events=5000,
            max_body_bytes=8 * 1024 * 1024,
            insight_properties=["plan"],
            insight_numbers=["amount"],
        )
    )


def wire(e: Ev, event_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "event": e.event,
        "user_id": e.user,
        "timestamp": e.ts.isoformat(),
    }
    if e.props is not None:
        out["properties"] = e.props
    return out


def send(api: Api, events: list[Ev] | list[dict[str, Any]]) -> None:
    body = [wire(e) if isinstance(e, Ev) else e for e in events]
    for start in range(0, len(body), 5000):
        response = api.post_events(body[start : start + 5000])
        assert response.status_code == 202, response.text
        assert not response.json()["rejected"], response.json()


def forget_events(api: Api) -> None:
    """Empty the events and rollups between examples (users keep their ids: writers cache them,
    and rollup row ids are never reused, so cached bitmaps stay right)."""
    db = api.client.app_state["evana"].db  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(text("DELETE FROM events"))
        conn.execute(text("DELETE FROM rollups"))
        conn.execute(text("DELETE FROM property_rollups"))
        conn.execute(text("DELETE FROM number_rollups"))
        conn.execute(text("DELETE FROM event_times"))


def query(api: Api, kind: str, body: dict[str, Any]) -> Any:
    response = api.client.post(f"/v1/query/{kind}", json=body, headers={"X-API-Key": api.read})
    assert response.status_code == 200, response.text
    return response.json()


def stats(api: Api, report: str, **params: Any) -> Any:
    response = api.stats(report, **params)
    assert response.status_code == 200, response.text
    return response.json()


def day(d: int, hour: int = 12, month: int = 11, offset: float = 0) -> dt.datetime:
    """A moment of 2026 (November by default) in a UTC offset of ``offset`` hours."""
    tz = dt.timezone(dt.timedelta(hours=offset))
    return dt.datetime(2026, month, d, hour, tzinfo=tz)


class LinkedPersons:
    """A stand-in person directory: some user ids linked into persons, with properties."""

    def __init__(
        self,
        api: Api,
        links: dict[str, str] | None = None,
        properties: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.db = api.client.app_state["evana"].db  # type: ignore[attr-defined]
        self.links = links or {}
        self.props = properties or {}

    def snapshot(self, conn: Any) -> PersonMap:
        uid = dict(conn.execute(text("SELECT user_id, uid FROM users")).all())
        groups: dict[str, list[int]] = {}
        for user, number in uid.items():
            groups.setdefault(self.links.get(user, user), []).append(number)
        merged, properties = {}, {}
        for head, numbers in groups.items():
            pid = min(numbers)
            merged.update(dict.fromkeys(numbers, pid))
            if head in self.props:
                properties[pid] = self.props[head]
        return PersonMap(merged, properties)


def use_persons(api: Api, persons: LinkedPersons) -> None:
    state = api.client.app_state["evana"]  # type: ignore[attr-defined]
    state.analytics.persons = persons
    state.insights.persons = persons
