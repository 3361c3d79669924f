"""The event contract end to end: ``evana ingest``, the SDK and raw HTTP against a real server.

Time (a file's timestamps are facts, an application with a right clock keeps its instants, a real
skew is still corrected), the calendar's ends, lone surrogates, events without id or timestamp,
and integer user ids: each one through every path that can carry it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import evana
from evana.client import _wire
from evana.errors import InvalidEventError

from .conftest import Served, invoke

JUST_BEFORE_MIDNIGHT = "2026-11-28T23:59:59.999000+00:00"


def _user(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def exported(served: Served, user_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{served.url}/v1/users/{user_id}/events", headers={"X-API-Key": served.admin}
    )
    answer.raise_for_status()
    return [json.loads(line) for line in answer.text.splitlines()]


def stamps(served: Served, user_id: str) -> list[dt.datetime]:
    return sorted(
        dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        for event in exported(served, user_id)
    )


def post(served: Served, body: dict[str, Any] | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{served.url}/v1/events",
        content=content,
        headers={"X-API-Key": served.ingest, "Content-Type": "application/json"},
    )


def ingest_file(
    runner: CliRunner, served: Served, path: Path, lines: list[str]
) -> tuple[Any, list[dict[str, Any]]]:
    path.write_text("\n".join(lines) + "\n")
    result = invoke(
        runner,
        ["ingest", str(path), "--url", served.url, "--api-key", served.ingest, "--format", "json"],
    )
    rejects = Path(f"{path}.rejects.jsonl")
    found = (
        [json.loads(line) for line in rejects.read_text().splitlines()] if rejects.exists() else []
    )
    return result, found


# -- time: facts stay facts, a real skew is still corrected -------------------------------------


def test_a_file_stamped_just_before_midnight_is_stored_as_written(
    runner: CliRunner, served: Served, tmp_path: Path
) -> None:
    user = _user("midnight-file")
    line = json.dumps({"event": "close", "user_id": user, "timestamp": "2026-11-28T23:59:59.999Z"})
    result, rejects = ingest_file(runner, served, tmp_path / "day.jsonl", [line])
    assert result.exit_code == 0, result.output
    assert rejects == []
    assert stamps(served, user) == [dt.datetime.fromisoformat(JUST_BEFORE_MIDNIGHT)]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_sdk_timestamp_from_a_right_clock_is_stored_as_given(served: Served, kind: str) -> None:
    user = _user(f"midnight-sdk-{kind}")
    when = dt.datetime.fromisoformat(JUST_BEFORE_MIDNIGHT)
    if kind == "sync":
        with evana.Client(served.url, served.ingest) as client:
            client.track("close", user, timestamp=when)
            client.send_batch(
                [{"event": "backfill", "user_id": user, "timestamp": when.isoformat()}]
            )
            assert client.flush(timeout=10)
    else:

        async def send() -> None:
            async with evana.AsyncClient(served.url, served.ingest) as client:
                await client.track("close", user, timestamp=when)
                await client.send_batch(
                    [{"event": "backfill", "user_id": user, "timestamp": when.isoformat()}]
                )
                assert await client.flush(timeout=10)

        asyncio.run(send())
    assert stamps(served, user) == [when, when]


def test_an_sdk_on_a_clock_hours_off_is_still_corrected(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _user("skewed-sdk")
    off = dt.timedelta(hours=-3)  # this machine's clock is three hours behind

    class SkewedClock(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> SkewedClock:  # type: ignore[override]
            return super().now(tz) + off

    monkeypatch.setattr(_wire, "dt", SimpleNamespace(datetime=SkewedClock, UTC=dt.UTC))
    with evana.Client(served.url, served.ingest) as client:
        client.track("open", user, timestamp=dt.datetime.now(dt.UTC) + off)
        assert client.flush(timeout=10)
    [stored] = stamps(served, user)
    assert abs(stored - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=30)


def test_a_clock_hours_off_is_still_corrected(served: Served) -> None:
    user = _user("skewed")
    now = dt.datetime.now(dt.UTC)
    behind = now - dt.timedelta(hours=3)  # the sender's clock is three hours behind
    body = {
        "events": [{"event": "open", "user_id": user, "timestamp": behind.isoformat()}],
        "sent_at": behind.isoformat(),
    }
    assert post(served, body).json() == {"accepted": 1, "rejected": []}
    [stored] = stamps(served, user)
    assert abs(stored - now) < dt.timedelta(seconds=30)


# -- the calendar's ends: the event alone, never the batch or the file ---------------------------


def test_instants_past_the_calendar_reject_their_event_alone(served: Served) -> None:
    user = _user("calendar")
    now = dt.datetime.now(dt.UTC)
    events = [
        {"event": "ok", "user_id": user},
        {"event": "a", "user_id": user, "timestamp": "0001-01-01T00:00:00+01:00"},
        {"event": "b", "user_id": user, "timestamp": "9999-12-31T23:59:59-01:00"},
        {"event": "ok", "user_id": user, "timestamp": now.isoformat()},
    ]
    answer = post(served, {"events": events})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "accepted": 2,
        "rejected": [
            {"index": 1, "errors": ["timestamp: is before 1970-01-01T00:00:00Z"]},
            {"index": 2, "errors": ["timestamp: is after 9999-12-31T23:59:59Z"]},
        ],
    }
    # A sent_at that moves instants off the calendar, or before 1970 (checked after the shift).
    shifted = [
        {"event": "ok", "user_id": user},  # no timestamp: the receive time, never shifted
        {"event": "c", "user_id": user, "timestamp": "9999-12-31T23:00:00Z"},
        {"event": "d", "user_id": user, "timestamp": "1970-01-01T01:00:00Z"},
        {"event": "e", "user_id": user, "timestamp": (now - dt.timedelta(minutes=1)).isoformat()},
    ]
    outside = ["timestamp: outside years 1970-9999 after sent_at correction"]
    ahead = ["timestamp: more than 24 hours in the future (after sent_at correction)"]
    for sent_at, rejected in [
        (now - dt.timedelta(hours=2), {1: outside}),
        (now + dt.timedelta(hours=2), {1: ahead, 2: outside}),
        ("2100-01-01T00:00:00Z", {1: ahead, 2: outside, 3: outside}),  # 2026 would be 1952
        ("0001-01-01T00:00:00+01:00", {1: outside, 2: ahead, 3: ahead}),
        ("9999-12-31T23:59:59-01:00", {2: outside, 3: outside}),
    ]:
        answer = post(served, {"events": shifted, "sent_at": str(sent_at)})
        assert answer.status_code == 202, answer.text
        assert {r["index"]: r["errors"] for r in answer.json()["rejected"]} == rejected, sent_at
        assert answer.json()["accepted"] == 4 - len(rejected)
    # Accepted: 2 + 3 + 2 + 1 + 1 + 2, less "e" the second time (the same content as sent, so
    # the same derived id, whatever the correction).
    assert len(exported(served, user)) == 10
    assert min(stamps(served, user)) >= dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_evana_ingest_rejects_calendar_ends_by_line_and_sends_the_rest(
    runner: CliRunner, served: Served, tmp_path: Path
) -> None:
    user = _user("calendar-file")
    lines = [
        json.dumps({"event": "ok", "user_id": user, "timestamp": "2026-11-02T09:15:00Z"}),
        json.dumps({"event": "a", "user_id": user, "timestamp": "0001-01-01T00:00:00+01:00"}),
        json.dumps({"event": "b", "user_id": user, "timestamp": "9999-12-31T23:59:59-01:00"}),
        json.dumps({"event": "ok", "user_id": user, "timestamp": "2026-11-03T09:15:00Z"}),
    ]
    result, rejects = ingest_file(runner, served, tmp_path / "ends.jsonl", lines)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["accepted"] == 2
    assert [(r["line"], r["error"]) for r in rejects] == [
        (2, "timestamp: is before 1970-01-01T00:00:00Z"),
        (3, "timestamp: is after 9999-12-31T23:59:59Z"),
    ]
    assert len(exported(served, user)) == 2


# -- lone surrogates: the event alone, on every path ---------------------------------------------


def test_a_lone_surrogate_rejects_its_event_alone(
    runner: CliRunner, served: Served, tmp_path: Path
) -> None:
    user = _user("surrogate")
    message = (
        "must be valid Unicode: a lone UTF-16 surrogate (such as \\ud83d, half of an emoji cut"
        " in two) is not"
    )
    # What JavaScript sends when it cuts an emoji: valid JSON, not valid Unicode.
    body = (
        b'{"events": [{"event": "ok", "user_id": "' + user.encode() + b'"},'
        b' {"event": "a", "user_id": "' + user.encode() + b'", "properties": {"t": "cut \\ud83d"}},'
        b' {"event": "a", "user_id": "' + user.encode() + b'\\udc00"},'
        b' {"event": "a", "user_id": "'
        + user.encode()
        + b'", "properties": {"\\ud83d": [{"n": 1}]}}]}'
    )
    answer = post(served, body)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "accepted": 1,
        "rejected": [
            {"index": 1, "errors": [f"properties: {message}"]},
            {"index": 2, "errors": [f"user_id: {message}"]},
            {"index": 3, "errors": [f"properties: {message}"]},
        ],
    }
    lines = [
        json.dumps({"event": "ok", "user_id": user, "timestamp": "2026-11-02T09:15:00Z"}),
        '{"event": "a", "user_id": "' + user + '", "properties": {"t": "cut \\ud83d"}}',
    ]
    result, rejects = ingest_file(runner, served, tmp_path / "cut.jsonl", lines)
    assert result.exit_code == 1, result.output
    assert [(r["line"], r["error"]) for r in rejects] == [(2, f"properties: {message}")]
    errors: list[str] = []
    with evana.Client(
        served.url, served.ingest, on_error=lambda event, exc: errors.append(str(exc))
    ) as client:
        client.track("a", user, {"t": "cut \ud83d"})
        assert client.flush(timeout=10)
    with (
        evana.Client(served.url, served.ingest, strict=True) as strict,
        pytest.raises(InvalidEventError, match="user_id: must be valid Unicode"),
    ):
        strict.track("a", "u\ud83d")
    assert errors == [f"invalid event: properties: {message}"]
    assert len(exported(served, user)) == 2  # the first body's event and the file's first line


# -- events without id and timestamp: a new event each time they are sent ------------------------


def test_an_event_without_id_and_timestamp_is_new_each_time_it_is_sent(
    runner: CliRunner, served: Served, tmp_path: Path
) -> None:
    user = _user("bare")
    bare = {"event": "app_open", "user_id": user}
    for _ in range(3):
        assert post(served, {"events": [bare]}).json() == {"accepted": 1, "rejected": []}
    assert post(served, {"events": [bare, bare]}).json()["accepted"] == 2
    assert len(exported(served, user)) == 5
    # evana ingest names every line (from its content), so a file sent twice counts once.
    other = _user("bare-file")
    path = tmp_path / "bare.jsonl"
    for _ in range(2):
        result, _ = ingest_file(runner, served, path, [json.dumps({**bare, "user_id": other})])
        assert result.exit_code == 0, result.output
    assert len(exported(served, other)) == 1


# -- integer user ids: sent as text by the SDK ----------------------------------------------------


def test_the_sdk_sends_an_integer_user_id_as_text(served: Served) -> None:
    number = int(uuid.uuid4().int % 10**12)
    errors: list[object] = []
    with evana.Client(
        served.url, served.ingest, on_error=lambda event, exc: errors.append(exc)
    ) as client:
        client.track("signup", user_id=number)

    async def send() -> None:
        async with evana.AsyncClient(served.url, served.ingest) as client:
            await client.track("login", user_id=number)

    asyncio.run(send())
    assert errors == []
    assert sorted(e["event"] for e in exported(served, str(number))) == ["login", "signup"]
    with (
        evana.Client(served.url, served.ingest, strict=True) as strict,
        pytest.raises(InvalidEventError, match="user_id: Input should be a valid string"),
    ):
        strict.track("a", user_id=True)  # a bool is not a number here
