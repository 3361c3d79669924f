"""Judging a line: ``Event``'s verdict and id on both paths, and the cheap path really taken."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from evana.cli import _judge
from evana.cli._judge import LineError, horizon, judge
from evana.schema import Event, derive_event_id


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{oops", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"signup"', "not a JSON object"),
        (b'{"event": "a"}', "user_id: Field required"),
        (b'{"event": "a", "user_id": "u", "extra": 1}', "extra: unknown field"),
        (b'{"event": "a", "user_id": "u", "timestamp": 1700000000}', "timestamp: must be an ISO"),
        (b'{"event": "a", "user_id": "u", "timestamp": "2999-01-01T00:00:00Z"}', "24 hours"),
        (b'{"event": "", "user_id": "u"}', "event: String should have at least 1 character"),
        (b'{"event": "a\\u0000", "user_id": "u"}', "NUL"),
        (b'{"event": "a", "user_id": "u", "event_id": "nope"}', "event_id: Input should be a"),
    ],
)
def test_bad_lines_say_why(line: bytes, message: str) -> None:
    with pytest.raises(LineError, match=message):
        judge(line, horizon())


def test_plain_lines_never_reach_pydantic_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(obj: object) -> Event:
        raise AssertionError(f"the slow path judged {obj!r}")

    monkeypatch.setattr(_judge, "_validate", slow)
    event_id = uuid.uuid4()
    plain = [
        {"event_id": str(event_id).upper(), "event": "view", "user_id": "u1"},
        {"event": "view", "user_id": "u1", "timestamp": "2026-11-02T09:15:00.25+05:30"},
        {"event": "buy", "user_id": "u1", "properties": {"amount": 9.9, "tags": ["a"]}},
    ]
    verdicts = [judge(json.dumps(line).encode(), horizon()) for line in plain]
    assert verdicts[0][1] == str(event_id)
    when = dt.datetime(2026, 11, 2, 3, 45, 0, 250000, tzinfo=dt.UTC)
    assert verdicts[1][1] == str(derive_event_id("view", "u1", when))
    assert verdicts[2][0] == {**plain[2], "event_id": verdicts[2][1]}


def test_the_same_content_gets_the_same_id_however_it_is_spelled() -> None:
    spellings = [
        b'{"event": "a", "user_id": "u", "timestamp": "2026-11-02T10:15:00+01:00"}',
        b'{"user_id": "u", "event": "a", "timestamp": "2026-11-02T09:15:00Z", "event_id": null}',
        b'{"event":"a","user_id":"u","timestamp":"2026-11-02T09:15:00","properties":{}}',
    ]
    assert len({judge(line, horizon())[1] for line in spellings}) == 1
