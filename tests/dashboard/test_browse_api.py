"""``GET /v1/events/recent`` (newest first, paged) and ``GET /v1/stats/events`` (per day)."""

from __future__ import annotations

import uuid

from tests.conftest import Api


def _events(n: int) -> list[dict[str, object]]:
    return [
        {
            "event_id": str(uuid.UUID(int=i + 1)),
            "event": "buy" if i % 3 == 0 else "view",
            "user_id": f"u{i % 4}",
            "timestamp": f"2026-11-{1 + i % 5:02d}T10:{i % 60:02d}:00Z",
            "properties": {"i": i},
        }
        for i in range(n)
    ]


def test_recent_events_page_newest_first(api: Api) -> None:
    sent = _events(90)
    for start in range(0, 90, 30):
        assert api.post_events(sent[start : start + 30]).json()["accepted"] == 30
    expected = sorted(sent, key=lambda e: (e["timestamp"], e["event_id"]), reverse=True)
    headers = {"X-API-Key": api.admin}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 25, **({"before": cursor} if cursor else {})}
        page = api.client.get("/v1/events/recent", params=params, headers=headers).json()
        seen += [e["event_id"] for e in page["events"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [e["event_id"] for e in expected]
    first = api.client.get("/v1/events/recent", params={"limit": 1}, headers=headers).json()
    assert set(first["events"][0]) == {
        "event_id",
        "event",
        "user_id",
        "timestamp",
        "properties",
        "received_at",
    }
    assert first["events"][0]["timestamp"].endswith("Z")

    only = api.client.get(
        "/v1/events/recent", params={"event": "buy", "user_id": "u0", "limit": 500}, headers=headers
    ).json()
    want = [e["event_id"] for e in expected if e["event"] == "buy" and e["user_id"] == "u0"]
    assert [e["event_id"] for e in only["events"]] == want
    assert only["next"] is None


def test_recent_events_need_an_admin_key(api: Api) -> None:
    # Raw events name users: a read key sees reports (aggregates) only.
    assert api.post_events(_events(1)).json()["accepted"] == 1
    for key in (api.read, api.ingest):
        answer = api.client.get("/v1/events/recent", headers={"X-API-Key": key})
        assert answer.status_code == 403


def test_recent_events_refuse_bad_input(api: Api) -> None:
    headers = {"X-API-Key": api.admin}
    for params in ({"before": "yesterday"}, {"limit": 0}, {"limit": 501}, {"event": ""}):
        response = api.client.get("/v1/events/recent", params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.json()["error"] == "invalid_request"


def test_events_per_day_match_the_raw_events(api: Api) -> None:
    sent = _events(50)
    assert api.post_events(sent).json()["accepted"] == 50
    params = {"since": "2026-10-31", "until": "2026-11-06"}
    headers = {"X-API-Key": api.read}
    every = api.client.get("/v1/stats/events", params=params, headers=headers).json()
    days = [f"2026-11-{d:02d}" for d in range(1, 6)]

    def series(name: str | None) -> list[dict[str, object]]:
        mine = [e for e in sent if name is None or e["event"] == name]
        counts = {day: sum(1 for e in mine if str(e["timestamp"]).startswith(day)) for day in days}
        return [
            {"date": "2026-10-31", "events": 0},
            *({"date": day, "events": counts[day]} for day in days),
            {"date": "2026-11-06", "events": 0},
        ]

    assert every == {
        **params,
        "events": [{"event": None, "total": 50, "series": series(None)}],
    }
    # Several names in one request (the overview's trend lines), in the order asked.
    several = api.client.get(
        "/v1/stats/events",
        params=[*params.items(), ("event", "view"), ("event", "buy"), ("event", "never")],
        headers=headers,
    ).json()["events"]
    assert [s["event"] for s in several] == ["view", "buy", "never"]
    assert several[0]["series"] == series("view")
    assert several[1]["series"] == series("buy")
    assert several[1]["total"] == sum(1 for e in sent if e["event"] == "buy")
    assert several[2]["total"] == 0
    for bad in (
        {"since": "2026-11-06", "until": "2026-11-01"},
        {**params, "event": [f"e{i}" for i in range(21)]},
        {**params, "event": ""},
    ):
        answer = api.client.get("/v1/stats/events", params=bad, headers=headers)
        assert answer.status_code == 422, bad


def test_embedded_mode_has_an_empty_dead_letter_queue(api: Api) -> None:
    headers = {"X-API-Key": api.admin}
    assert api.client.get("/v1/dlq", headers=headers).json() == {"enabled": False, "entries": []}
    missing = api.client.get("/v1/dlq/1", headers=headers)
    assert missing.status_code == 404
    assert "embedded mode" in missing.json()["detail"]
