"""Segment's wire cases against a real ``evana serve``, embedded and production."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
from typing import Any

import httpx

from evana.server._wire import WIRE_ID_NAMESPACE

from .conftest import Target, users


def post(target: Target, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{target.url}{path}", timeout=30, **kwargs)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(user: str, name: str = "Viewed", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "userId": user, "messageId": str(uuid.uuid4()), **extra}


def test_batch_with_basic_auth_and_gzip(target: Target) -> None:
    u = users()
    batch = {"batch": [track(f"{u}1", properties={"plan": "pro"}), track(f"{u}2", "Bought")]}
    answer = post(
        target,
        "/v1/batch",
        content=gzip.compress(json.dumps(batch).encode()),
        headers={**basic(target.ingest), "Content-Encoding": "gzip"},
    )
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    rows = target.wait_rows(u, 2)
    assert {(r.event, r.user_id) for r in rows} == {("Viewed", f"{u}1"), ("Bought", f"{u}2")}


def test_single_routes_with_x_write_key_or_write_key_in_the_body(target: Target) -> None:
    u = users()
    key = {"X-Write-Key": target.ingest}
    assert post(target, "/v1/track", json=track(f"{u}1"), headers=key).is_success
    page = {
        "anonymousId": f"{u}2",
        "name": "Pricing",
        "category": "Docs",
        "writeKey": target.ingest,
    }
    assert post(target, "/v1/page", json=page).is_success
    screen = {"userId": f"{u}3", "name": "Home", "context": {"app": {"version": "2"}}}
    assert post(
        target, "/v1/screen", json=screen, headers={"Authorization": f"Bearer {target.ingest}"}
    ).is_success
    rows = {r.user_id: r for r in target.wait_rows(u, 3)}
    assert rows[f"{u}1"].event == "Viewed"
    assert (rows[f"{u}2"].event, rows[f"{u}2"].properties) == (
        "$pageview",
        {"name": "Pricing", "category": "Docs"},
    )
    assert rows[f"{u}3"].properties == {"name": "Home", "$context": {"app": {"version": "2"}}}


def test_non_uuid_message_id_resent_is_stored_once(target: Target) -> None:
    u = users()
    first = track(f"{u}a", messageId=f"ajs-next-{u}")
    assert post(
        target, "/v1/batch", json={"batch": [first]}, headers=basic(target.ingest)
    ).is_success
    target.wait_rows(f"{u}a", 1)
    again = {"batch": [first, track(f"{u}b")]}
    assert post(target, "/v1/batch", json=again, headers=basic(target.ingest)).is_success
    target.wait_rows(f"{u}b", 1)
    (row,) = target.rows(f"{u}a")
    assert row.event_id == uuid.uuid5(WIRE_ID_NAMESPACE, f"ajs-next-{u}")


def test_received_at_minus_sent_at_minus_timestamp_across_midnight(target: Target) -> None:
    u = users()
    client_now = dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1), dt.time(23, 59, 50), dt.UTC
    )
    message = track(u, timestamp=(client_now - dt.timedelta(seconds=30)).isoformat())
    before = dt.datetime.now(dt.UTC)
    body = {"batch": [message], "sentAt": client_now.isoformat()}
    assert post(target, "/v1/batch", json=body, headers=basic(target.ingest)).is_success
    after = dt.datetime.now(dt.UTC)
    (row,) = target.wait_rows(u, 1)
    gap = dt.timedelta(seconds=30)
    assert before - gap <= row.timestamp <= after - gap
    assert row.timestamp.date() > client_now.date()


def test_a_timestamp_without_sent_at_is_kept(target: Target) -> None:
    u = users()
    when = dt.datetime(2025, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    body = {"batch": [track(u, timestamp=when.isoformat())]}
    assert post(target, "/v1/batch", json=body, headers=basic(target.ingest)).is_success
    (row,) = target.wait_rows(u, 1)
    assert row.timestamp == when


def test_one_invalid_message_is_dropped_the_rest_kept(target: Target) -> None:
    u = users()
    batch = [
        track(f"{u}1"),
        {"type": "track", "event": "No user", "messageId": "m"},
        {"type": "teleport", "userId": f"{u}x"},
        track(f"{u}2", properties="not an object"),
        track(f"{u}3"),
    ]
    answer = post(target, "/v1/batch", json={"batch": batch}, headers=basic(target.ingest))
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert {r.user_id for r in target.wait_rows(u, 2)} == {f"{u}1", f"{u}3"}


def test_a_batch_over_the_limit_is_refused_while_inflating(target: Target) -> None:
    body = gzip.compress(b'{"batch": [' + b" " * (11 * 1024 * 1024) + b"]}")
    answer = post(
        target,
        "/v1/batch",
        content=body,
        headers={**basic(target.ingest), "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 413, answer.text


def test_errors(target: Target) -> None:
    assert post(target, "/v1/batch", json={"batch": [track("x")]}).status_code == 401
    assert (
        post(target, "/v1/batch", json={"batch": []}, headers=basic("evana_nope_nope")).status_code
        == 401
    )
    assert post(target, "/v1/batch", content=b"{", headers=basic(target.ingest)).status_code == 400
    assert post(target, "/v1/batch", json=[1], headers=basic(target.ingest)).status_code == 400
    preflight = httpx.options(
        f"{target.url}/v1/batch",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://a.example"


def test_person_messages_are_stored_and_counted_in_no_report(target: Target) -> None:
    u = users()
    day = dt.datetime(2024, 5, 6, 12, tzinfo=dt.UTC)
    at = {"timestamp": day.isoformat()}
    batch = [
        track(f"{u}1", "Opened", **at),
        {
            "type": "identify",
            "userId": f"{u}1",
            "anonymousId": f"{u}anon",
            "traits": {"plan": "pro"},
            **at,
        },
        {"type": "alias", "userId": f"{u}1", "previousId": f"{u}old", **at},
        {"type": "group", "userId": f"{u}2", "groupId": "acme", "traits": {"size": 5}, **at},
    ]
    assert post(target, "/v1/batch", json={"batch": batch}, headers=basic(target.ingest)).is_success
    rows = target.wait_rows(u, 4)
    by_event = {r.event: r for r in rows}
    assert by_event["$identify"].properties == {
        "$set": {"plan": "pro"},
        "$anon_distinct_id": f"{u}anon",
    }
    assert by_event["$create_alias"].properties == {"alias": f"{u}old"}
    assert by_event["$groupidentify"].properties == {
        "$group_type": "group",
        "$group_key": "acme",
        "$group_set": {"size": 5},
    }
    since = until = day.date().isoformat()
    top = target.report("top-events", since=since, until=until)
    assert top["events"] == [{"event": "Opened", "count": 1, "users": 1}]
    assert target.report("dau", since=since, until=until)["series"][0]["users"] == 1
