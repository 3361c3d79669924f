"""PostHog's wire cases against a real ``evana serve``, embedded and production."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from evana.server._wire import WIRE_ID_NAMESPACE

from .conftest import Target, users

FIXTURES = Path(__file__).parent / "fixtures"
NOW = dt.datetime.now


def post(target: Target, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{target.url}{path}", timeout=30, **kwargs)


def event(user: str, name: str = "view", **extra: Any) -> dict[str, Any]:
    return {"event": name, "distinct_id": user, "uuid": str(uuid.uuid4()), **extra}


def metric(target: Target, name: str) -> float:
    body = httpx.get(f"{target.url}/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_server_sdk_batch_with_the_key_in_the_body(target: Target) -> None:
    u = users()
    sent = [event(f"{u}1", "signup", properties={"plan": "pro"}), event(f"{u}2")]
    answer = post(target, "/batch/", json={"api_key": target.ingest, "batch": sent})
    assert (answer.status_code, answer.json()) == (200, {"status": 1})
    rows = target.wait_rows(u, 2)
    assert {(r.event, r.user_id, str(r.event_id)) for r in rows} == {
        (e["event"], e["distinct_id"], e["uuid"]) for e in sent
    }


@pytest.mark.parametrize("path", ["/e", "/e/", "/i/v0/e/", "/capture", "/batch"])
def test_gzip_js_as_text_plain_with_the_token_in_the_properties(target: Target, path: str) -> None:
    u = users()
    sent = [{"event": "$pageview", "properties": {"distinct_id": u, "token": target.ingest}}]
    answer = post(
        target,
        f"{path}?compression=gzip-js&ver=1.449.2",
        content=gzip.compress(json.dumps(sent).encode()),
        headers={"Content-Type": "text/plain"},
    )
    assert answer.status_code == 200, answer.text
    (row,) = target.wait_rows(u, 1)
    assert row.event == "$pageview"
    assert row.properties == {"distinct_id": u}  # the key is authentication, not data


def test_gzip_recognised_by_its_magic_bytes_alone(target: Target) -> None:
    u = users()
    body = gzip.compress(json.dumps([event(u, token=target.ingest)]).encode())
    assert post(target, "/e/", content=body).status_code == 200
    target.wait_rows(u, 1)


def test_base64_form_body(target: Target) -> None:
    u = users()
    data = base64.b64encode(json.dumps(event(u, **{"$token": target.ingest})).encode()).decode()
    answer = post(target, "/e/", data={"data": data, "compression": "base64"})
    assert answer.status_code == 200, answer.text
    target.wait_rows(u, 1)


def test_lz64_form_body_made_by_lz_string(target: Target) -> None:
    fixture = json.loads((FIXTURES / "lz64_batch.json").read_text())
    answer = post(
        target,
        "/e/?compression=lz64",
        data={"data": fixture["lz64"]},
        headers={"Authorization": f"Bearer {target.ingest}"},
    )
    assert answer.status_code == 200, answer.text
    rows = target.wait_rows("lz64-user-", 2)
    assert [r.user_id for r in rows] == ["lz64-user-1", "lz64-user-2"]
    assert "😀" in json.dumps(rows[0].properties, ensure_ascii=False)


def test_non_uuid_id_resent_is_stored_once(target: Target) -> None:
    u = users()
    first = event(f"{u}a", uuid="not-a-uuid-" + u)
    assert post(target, "/batch", json={"api_key": target.ingest, "batch": [first]}).is_success
    target.wait_rows(f"{u}a", 1)
    sentinel = event(f"{u}b")
    resent = {"api_key": target.ingest, "batch": [first, sentinel]}
    assert post(target, "/batch", json=resent).is_success
    target.wait_rows(f"{u}b", 1)  # the copy travelled with the sentinel
    (row,) = target.rows(f"{u}a")
    assert row.event_id == uuid.uuid5(WIRE_ID_NAMESPACE, "not-a-uuid-" + u)


def test_client_clock_skew_is_corrected_across_midnight(target: Target) -> None:
    # The client's clock says 23:59:55 yesterday; its event happened 5 s before it sent.
    u = users()
    client_now = dt.datetime.combine(
        dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1), dt.time(23, 59, 55), dt.UTC
    )
    sent = event(u, timestamp=(client_now - dt.timedelta(seconds=5)).isoformat())
    before = dt.datetime.now(dt.UTC)
    body = {"api_key": target.ingest, "batch": [sent], "sent_at": client_now.isoformat()}
    assert post(target, "/batch/", json=body).is_success
    after = dt.datetime.now(dt.UTC)
    (row,) = target.wait_rows(u, 1)
    stored = row.timestamp
    assert before - dt.timedelta(seconds=5) <= stored <= after - dt.timedelta(seconds=5)
    assert stored.date() > client_now.date()  # counted on the server's day, not the client's


def test_offset_counts_back_from_receipt(target: Target) -> None:
    u = users()
    before = dt.datetime.now(dt.UTC)
    body = [{**event(u), "offset": 120_000, "properties": {"token": target.ingest}}]
    assert post(target, "/e/", json=body).is_success
    after = dt.datetime.now(dt.UTC)
    (row,) = target.wait_rows(u, 1)
    offset = dt.timedelta(minutes=2)
    assert before - offset <= row.timestamp <= after - offset


def test_historical_migration_is_never_corrected(target: Target) -> None:
    u = users()
    when = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    body = {
        "api_key": target.ingest,
        "historical_migration": True,
        "sent_at": (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).isoformat(),
        "batch": [event(u, timestamp=when.isoformat())],
    }
    assert post(target, "/batch/", json=body).is_success
    (row,) = target.wait_rows(u, 1)
    assert row.timestamp == when


def test_one_invalid_event_is_dropped_and_counted_the_rest_kept(target: Target) -> None:
    u = users()
    rejected = metric(target, "evana_events_rejected_total")
    batch = [event(f"{u}1"), {"event": "no user", "uuid": str(uuid.uuid4())}, event(f"{u}2")]
    answer = post(target, "/batch/", json={"api_key": target.ingest, "batch": batch})
    assert (answer.status_code, answer.json()) == (200, {"status": 1})
    assert {r.user_id for r in target.wait_rows(u, 2)} == {f"{u}1", f"{u}2"}
    assert metric(target, "evana_events_rejected_total") == rejected + 1


def test_a_batch_over_20_mb_is_refused_while_inflating(target: Target) -> None:
    padding = b" " * (21 * 1024 * 1024)
    body = gzip.compress(b'{"api_key": "%s", "batch": [' % target.ingest.encode() + padding + b"]}")
    assert len(body) < 100_000
    answer = post(target, "/batch/", content=body, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413, answer.text
    answer = post(target, "/batch/?compression=gzip-js", content=body)  # magic bytes alone
    assert answer.status_code == 413, answer.text


def test_a_batch_of_19_mb_is_taken(target: Target) -> None:
    u = users()
    big = [event(f"{u}{i}", properties={"blob": "x" * 30_000}) for i in range(670)]
    body = json.dumps({"api_key": target.ingest, "batch": big}).encode()
    assert 19 * 1024 * 1024 < len(body) < 20 * 1024 * 1024
    answer = post(
        target, "/batch/", content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 200, answer.text
    target.wait_rows(u, 670, timeout=60)


def test_unknown_or_missing_key_is_401_and_unreadable_body_400(target: Target) -> None:
    assert (
        post(target, "/batch/", json={"api_key": "nope", "batch": [event("x")]}).status_code == 401
    )
    assert post(target, "/batch/", json={"batch": [event("x")]}).status_code == 401
    answer = post(
        target,
        "/e/",
        content=b"\x00\x01 not json",
        headers={"Authorization": f"Bearer {target.ingest}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_body"
    read_key = post(target, "/batch/", json={"api_key": target.read, "batch": [event("x")]})
    assert read_key.status_code == 403


def test_browsers_get_cors_and_empty_start_up_answers(target: Target) -> None:
    preflight = httpx.options(
        f"{target.url}/e/?ver=1",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    flags = post(
        target, "/flags/?v=2&config=true", json={"token": target.ingest, "distinct_id": "u"}
    )
    assert flags.status_code == 200
    assert flags.json()["flags"] == {}
    assert flags.json()["errorsWhileComputingFlags"] is False
    assert flags.headers.get("access-control-allow-origin") is None  # no Origin, no CORS tags
    decide = post(target, "/decide/?v=4", json={}, headers={"Origin": "https://shop.example"})
    assert decide.json()["featureFlags"] == {}
    assert decide.headers["access-control-allow-origin"] == "https://shop.example"
    config = httpx.get(f"{target.url}/array/{target.ingest}/config")
    assert config.status_code == 200
    assert config.json()["sessionRecording"] is False
