"""The server's batch validation: the fast path really taken, and what ``validate_events`` offers.

That every path (fast, exact, ``validate_events``, the CLI, the SDK) gives the same verdict is
proven in ``tests/test_event_contract.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from evana.server import _batch
from evana.server._batch import validate_batch, validate_events

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def test_a_clean_batch_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # A valid batch must not fall back (else the speed-up silently disappears).
    def slow(*args: object, **kwargs: object) -> None:
        raise AssertionError("the exact path judged a clean batch")

    monkeypatch.setattr(_batch, "validate_events", slow)
    body = json.dumps(
        {
            "events": [
                {
                    "event": "a",
                    "user_id": "u",
                    "timestamp": "2026-11-02T09:15:00+01:00",
                    "properties": {"p": [1, "x"]},
                },
                {"event": "b", "user_id": "v", "event_id": str(uuid.uuid4())},
                {"event": "c", "user_id": "w"},
            ],
            "sent_at": "2026-11-23T11:00:00Z",
        }
    ).encode()
    assert len(validate_batch(body, received_at=NOW).events) == 3


def test_validate_events_takes_raw_events_a_receive_time_and_a_skew_policy() -> None:
    # What a PostHog or Segment route hands over: evana event dicts made from a foreign request.
    events = [
        {"event": "$pageview", "user_id": "42", "timestamp": "2026-11-23T10:00:00Z"},
        {"event": "", "user_id": "42"},
        {"event": "buy", "user_id": "42", "timestamp": "2026-11-23T10:00:00Z"},
    ]
    sent_at = NOW - dt.timedelta(hours=2)  # the sender's clock is two hours behind
    corrected = validate_events(events, received_at=NOW, sent_at=sent_at)
    assert [e.timestamp.hour for e in corrected.events] == [12, 12]
    assert [(r.index, r.errors[0][:6]) for r in corrected.rejected] == [(1, "event:")]
    backfill = validate_events(events, received_at=NOW, sent_at=sent_at, correct_skew=False)
    assert [e.timestamp.hour for e in backfill.events] == [10, 10]
    assert all(e.received_at == NOW for e in backfill.events)


def test_clean_raw_events_take_the_fast_path_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a wire format hands over as Python objects is decided without a model per event.
    class Refuse:
        @staticmethod
        def model_validate(item: object) -> None:
            raise AssertionError(f"the exact path judged {item!r}")

    monkeypatch.setattr(_batch, "Event", Refuse)
    events = [
        {"event": "$pageview", "user_id": "42", "timestamp": "2026-11-23T10:00:00Z"},
        {"event": "buy", "user_id": "42", "properties": {"n": 1}, "event_id": str(uuid.uuid4())},
    ]
    assert len(validate_events(events, received_at=NOW).events) == 2
