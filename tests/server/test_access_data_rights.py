"""Data rights through the HTTP API, on SQLite and PostgreSQL: export a user's events as JSON
lines, erase the user, and afterwards every report equals the reference computed without them.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Sequence

import httpx
import pytest

from evana.server._batch import NormalizedEvent
from tests import reference as ref
from tests.conftest import Api
from tests.server._pipeline import BASE, make_events, wire

DAYS = 20


def reports(client: httpx.Client, key: str) -> dict[str, object]:
    params = {"since": str(BASE.date()), "until": str((BASE + dt.timedelta(days=DAYS)).date())}
    out: dict[str, object] = {}
    for report in ("dau", "wau", "mau"):
        out[report] = client.get(f"/v1/stats/{report}", params=params, headers={"X-API-Key": key})
    out["top"] = client.get(
        "/v1/stats/top-events", params={**params, "limit": 10}, headers={"X-API-Key": key}
    )
    for period in ("day", "week"):
        out[f"retention-{period}"] = client.get(
            "/v1/stats/retention",
            params={**params, "period": period, "periods": 6},
            headers={"X-API-Key": key},
        )
    for name, answer in out.items():
        assert isinstance(answer, httpx.Response)
        assert answer.status_code == 200, (name, answer.text)
        out[name] = answer.json()
    return out


def reference(events: Sequence[NormalizedEvent]) -> dict[str, object]:
    evs = [ref.Ev(e.event, e.user_id, e.timestamp) for e in events]
    since, until = BASE.date(), (BASE + dt.timedelta(days=DAYS)).date()
    out: dict[str, object] = {
        report: ref.active(evs, since, until, window)
        for report, window in (("dau", 1), ("wau", 7), ("mau", 30))
    }
    out["top"] = ref.top(evs, since, until, 10)
    for period in ("day", "week"):
        out[f"retention-{period}"] = ref.retention(evs, since, until, period, 6)
    return out


def segment(user_id: str) -> str:
    """The id as one path segment; dots encoded too, or "." and ".." would be normalized away."""
    return urllib.parse.quote(user_id, safe="").replace(".", "%2E")


def export(api: Api, user_id: str, key: str | None = None) -> httpx.Response:
    path = f"/v1/users/{segment(user_id)}/events"
    return api.client.get(path, headers={"X-API-Key": key or api.admin})


def erase(api: Api, user_id: str, key: str | None = None) -> httpx.Response:
    path = f"/v1/users/{segment(user_id)}"
    return api.client.delete(path, headers={"X-API-Key": key or api.admin})


def post(api: Api, events: Sequence[NormalizedEvent]) -> None:
    for start in range(0, len(events), 100):
        answer = api.post_events([wire(e) for e in events[start : start + 100]])
        assert answer.status_code == 202
        assert answer.json()["accepted"] == len(events[start : start + 100])


def test_erasing_a_user_leaves_every_report_as_if_they_never_came(api: Api) -> None:
    victim = "victim/ü 42"  # a slash and non-ASCII: the id travels URL-encoded
    events = make_events(600, users=9, days=DAYS, seed=7) + make_events(
        40, days=DAYS, seed=8, user=victim
    )
    post(api, events)
    assert reports(api.client, api.read) == reference(events)

    exported = export(api, victim)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in exported.text.splitlines()]
    mine = sorted(
        (e for e in events if e.user_id == victim), key=lambda e: (e.timestamp, str(e.event_id))
    )
    assert [line["event_id"] for line in lines] == [str(e.event_id) for e in mine]
    for line, event in zip(lines, mine, strict=True):
        assert set(line) == {
            "event_id",
            "event",
            "user_id",
            "timestamp",
            "properties",
            "received_at",
        }
        assert (line["event"], line["user_id"], line["properties"]) == (
            event.event,
            victim,
            event.properties,
        )
        assert (
            dt.datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")) == event.timestamp
        )

    erased = erase(api, victim)
    assert erased.status_code == 200
    assert erased.json() == {"user_id": victim, "events_deleted": 40}
    rest = [e for e in events if e.user_id != victim]
    assert reports(api.client, api.read) == reference(rest)
    assert export(api, victim).text == ""
    # Erasing again is harmless; resending other users' events counts nothing twice.
    assert erase(api, victim).json() == {"user_id": victim, "events_deleted": 0}
    post(api, rest[:200])
    assert reports(api.client, api.read) == reference(rest)


def test_only_admin_keys_may_export_or_erase(api: Api) -> None:
    events = make_events(5, seed=9, user="kept")
    post(api, events)
    for key in (api.ingest, api.read):
        for answer in (export(api, "kept", key), erase(api, "kept", key)):
            assert answer.status_code == 403
            assert "admin" in answer.json()["detail"]
    assert len(export(api, "kept").text.splitlines()) == 5


@pytest.mark.parametrize("user_id", ["x" * 201, "nul\x00byte", "bad-utf8-%FF"])
def test_invalid_user_ids_are_422(api: Api, user_id: str) -> None:
    segment = urllib.parse.quote(user_id, safe="%" if user_id.endswith("%FF") else "")
    for method, path in (
        ("GET", f"/v1/users/{segment}/events"),
        ("DELETE", f"/v1/users/{segment}"),
    ):
        answer = api.client.request(method, path, headers={"X-API-Key": api.admin})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == "invalid_request"


def test_an_empty_user_id_is_no_route(api: Api) -> None:
    assert export(api, "").status_code == 404
    assert erase(api, "").status_code == 404


def test_any_id_an_event_may_carry_can_be_exported_and_erased(api: Api) -> None:
    odd = ["line\nbreak", "/leading/slash/", "trailing\n", "%2F and %", "x" * 200, "events"]
    odd += ["a/events", "events/events", "ü/../..", ".", "..", "a.b"]
    for seed, user_id in enumerate(odd, 100):
        post(api, make_events(3, seed=seed, user=user_id))
    for user_id in odd:
        lines = export(api, user_id).text.splitlines()
        assert [json.loads(line)["user_id"] for line in lines] == [user_id] * 3, user_id
        assert erase(api, user_id).json() == {"user_id": user_id, "events_deleted": 3}
    assert erase(api, "events/events").json()["events_deleted"] == 0
    # The id is one path segment: a DELETE of the export URL is not an erasure of "a/events".
    post(api, make_events(2, seed=1, user="u1/events"))
    answer = api.client.delete("/v1/users/u1/events", headers={"X-API-Key": api.admin})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    assert len(export(api, "u1/events").text.splitlines()) == 2


def test_an_unknown_user_exports_nothing_and_erases_nothing(api: Api) -> None:
    assert export(api, "nobody").status_code == 200
    assert export(api, "nobody").text == ""
    assert erase(api, "nobody").json() == {"user_id": "nobody", "events_deleted": 0}
