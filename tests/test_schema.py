"""The event schema's rules (DESIGN.md "Event")."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from pydantic import ValidationError

from evana.schema import MAX_PROPERTIES_BYTES, Event, derive_event_id
from evana.server._batch import EnvelopeError, validate_batch

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def body(*events: object, **extra: object) -> bytes:
    return json.dumps({"events": list(events), **extra}).encode()


def test_a_valid_event_is_normalized() -> None:
    batch = validate_batch(
        body({"event": "signup", "user_id": "u1", "timestamp": "2026-11-02T10:15:00+01:00"}),
        received_at=NOW,
    )
    [event] = batch.events
    assert event.timestamp == dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    assert event.received_at == NOW
    assert batch.rejected == []


def test_naive_timestamps_are_utc() -> None:
    [event] = validate_batch(
        body({"event": "a", "user_id": "u", "timestamp": "2026-11-02T23:30:00"}), received_at=NOW
    ).events
    assert event.timestamp == dt.datetime(2026, 11, 2, 23, 30, tzinfo=dt.UTC)


def test_missing_timestamp_is_the_receive_time() -> None:
    [event] = validate_batch(body({"event": "a", "user_id": "u"}), received_at=NOW).events
    assert event.timestamp == NOW


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        ({"event": "", "user_id": "u"}, "event:"),
        ({"event": "a" * 201, "user_id": "u"}, "event:"),
        ({"event": "a", "user_id": ""}, "user_id:"),
        ({"event": "a", "user_id": "u" * 201}, "user_id:"),
        ({"event": "a"}, "user_id: Field required"),
        ({"event": "a", "user_id": "u", "colour": "red"}, "colour: unknown field"),
        ({"event": "a", "user_id": "u", "properties": [1]}, "properties:"),
        ({"event": "a", "user_id": "u", "timestamp": "yesterday"}, "timestamp:"),
        ({"event": "a", "user_id": "u", "timestamp": "1969-12-31T23:59:59Z"}, "before 1970"),
        ({"event": "a", "user_id": "u", "event_id": "not-a-uuid"}, "event_id:"),
        ({"event": "a\u0000b", "user_id": "u"}, "NUL"),
        ({"event": "a", "user_id": "u", "properties": {"k": "x\u0000"}}, "NUL"),
        ({"event": "a", "user_id": "u", "properties": {"k\u0000": 1}}, "NUL"),
        ({"event": 5, "user_id": "u"}, "event:"),
        ({"event": "a", "user_id": "u", "timestamp": 1700000000}, "not a number"),
        ({"event": "a", "user_id": "u", "properties": {"x": float("nan")}}, "NaN and Infinity"),
        ({"event": "a", "user_id": "u", "properties": {"x": [float("-inf")]}}, "NaN and Infinity"),
        ({"event": "a", "user_id": "u", "timestamp": "1700000000"}, "ISO 8601"),
        ("just a string", "valid dictionary"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(event: object, needle: str) -> None:
    batch = validate_batch(body({"event": "ok", "user_id": "u"}, event), received_at=NOW)
    assert [e.event for e in batch.events] == ["ok"]  # the valid neighbour is kept
    [rejected] = batch.rejected
    assert rejected.index == 1
    assert any(needle in reason for reason in rejected.errors), rejected.errors


def test_properties_size_cap_is_32_kib_serialized() -> None:
    fits = {"k": "x" * (MAX_PROPERTIES_BYTES - len('{"k":""}'))}
    over = {"k": "x" * (MAX_PROPERTIES_BYTES - len('{"k":""}') + 1)}
    batch = validate_batch(
        body(
            {"event": "a", "user_id": "u", "properties": fits},
            {"event": "a", "user_id": "u", "properties": over},
        ),
        received_at=NOW,
    )
    assert len(batch.events) == 1
    assert batch.rejected[0].index == 1
    assert "32768 byte limit" in batch.rejected[0].errors[0]


def test_deeply_nested_properties_are_rejected_per_event() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100):
        node["k"] = {}
        node = node["k"]  # type: ignore[assignment]
    batch = validate_batch(
        body({"event": "a", "user_id": "u", "properties": deep}), received_at=NOW
    )
    assert "nested deeper" in batch.rejected[0].errors[0]


def test_sent_at_corrects_clock_skew() -> None:
    # The client's clock is 1 hour behind: its timestamps move forward by the same hour.
    batch = validate_batch(
        body(
            {"event": "a", "user_id": "u", "timestamp": "2026-11-23T10:30:00Z"},
            sent_at="2026-11-23T11:00:00Z",
        ),
        received_at=NOW,
    )
    assert batch.events[0].timestamp == dt.datetime(2026, 11, 23, 11, 30, tzinfo=dt.UTC)


def test_more_than_24_hours_in_the_future_is_rejected_after_correction() -> None:
    in_25h = (NOW + dt.timedelta(hours=25)).isoformat()
    in_23h = (NOW + dt.timedelta(hours=23)).isoformat()
    batch = validate_batch(
        body(
            {"event": "a", "user_id": "u", "timestamp": in_25h},
            {"event": "a", "user_id": "u", "timestamp": in_23h},
        ),
        received_at=NOW,
    )
    assert [r.index for r in batch.rejected] == [0]
    assert "24 hours in the future" in batch.rejected[0].errors[0]
    # A client whose clock runs 2 hours fast: its "+25h" is really "+23h", so it is kept.
    skewed = validate_batch(
        body(
            {"event": "a", "user_id": "u", "timestamp": in_25h},
            sent_at=(NOW + dt.timedelta(hours=2)).isoformat(),
        ),
        received_at=NOW,
    )
    assert skewed.rejected == []
    assert len(skewed.events) == 1


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"[]",
        b'{"events": 3}',
        b'{"events": [], "extra": 1}',
        b'{"evnts": []}',
        b"\xff\xfe",
        b'{"events": [], "sent_at": 0}',
    ],
)
def test_a_bad_envelope_raises(payload: bytes) -> None:
    with pytest.raises(EnvelopeError):
        validate_batch(payload, received_at=NOW)


def test_derived_ids_follow_content_not_form() -> None:
    t = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    same = [
        derive_event_id("a", "u", t, {"x": 1, "y": [1, 2]}),
        derive_event_id(
            "a", "u", t.astimezone(dt.timezone(dt.timedelta(hours=5))), {"y": [1, 2], "x": 1}
        ),
    ]
    assert same[0] == same[1]
    assert derive_event_id("a", "u", t, None) == derive_event_id("a", "u", t, {})
    different = {
        derive_event_id("a", "u", t),
        derive_event_id("b", "u", t),
        derive_event_id("a", "v", t),
        derive_event_id("a", "u", t + dt.timedelta(microseconds=1)),
        derive_event_id("a", "u", None),
        derive_event_id("a", "u", t, {"x": 1}),
    }
    assert len(different) == 6


def test_events_without_id_get_the_derived_id_and_keep_a_given_one() -> None:
    given = uuid.uuid4()
    batch = validate_batch(
        body(
            {"event": "a", "user_id": "u", "timestamp": "2026-11-02T09:15:00Z"},
            {"event": "a", "user_id": "u", "event_id": str(given)},
        ),
        received_at=NOW,
    )
    assert batch.events[0].event_id == derive_event_id(
        "a", "u", dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    )
    assert batch.events[1].event_id == given


def test_derived_id_uses_the_timestamp_as_sent_not_as_corrected() -> None:
    event = {"event": "a", "user_id": "u", "timestamp": "2026-11-23T10:00:00Z"}
    first = validate_batch(body(event, sent_at="2026-11-23T11:00:00Z"), received_at=NOW)
    resent = validate_batch(body(event, sent_at="2026-11-23T11:05:00Z"), received_at=NOW)
    assert first.events[0].event_id == resent.events[0].event_id


def test_event_model_is_strict_about_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Event.model_validate({"event": "a", "user_id": "u", "userId": "u"})
