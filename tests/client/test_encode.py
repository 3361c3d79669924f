"""``track()``'s validation and encoding: JSON-safe properties, and the fast path == ``Event``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from typing import Any

import pytest

from evana.client._encode import encode_event, encode_prepared, json_safe
from evana.errors import InvalidEventError
from evana.schema import MAX_FUTURE, MAX_PROPERTIES_BYTES, Event

NOW = dt.datetime.now(dt.UTC)


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


def test_properties_are_made_json_safe_like_segment_and_posthog_do() -> None:
    when = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    raw = json_safe(
        {
            "when": when,
            "day": dt.date(2026, 11, 2),
            "id": uuid.UUID(int=1),
            "price": decimal.Decimal("9.90"),
            "tags": {"a"},
            "pair": (1, 2),
            "nan": float("nan"),
            "inf": float("-inf"),
            "color": Color.RED,
            "point": Point(1, 2),
            "thing": Opaque(),
            "bytes": b"hi",
            7: "int key",
        }
    )
    assert json.loads(raw) == {
        "when": "2026-11-02T09:15:00Z",
        "day": "2026-11-02",
        "id": "00000000-0000-0000-0000-000000000001",
        "price": "9.90",
        "tags": ["a"],
        "pair": [1, 2],
        "nan": None,
        "inf": None,
        "color": "red",
        "point": {"x": 1, "y": 2},
        "thing": "opaque!",
        "bytes": "hi",
        "7": "int key",
    }


def test_the_encoded_event_is_what_the_server_reads() -> None:
    event_id, data = encode_event(
        "signup",
        "u_42",
        {"plan": "pro", "at": dt.date(2026, 1, 1)},
        dt.datetime(2026, 11, 2, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    )
    assert event_id.version == 7
    event = Event.model_validate_json(data)
    assert event.event_id == event_id
    assert event.timestamp == dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    assert event.properties == {"plan": "pro", "at": "2026-01-01"}


def test_no_timestamp_means_now_and_a_naive_one_means_utc() -> None:
    _, data = encode_event("a", "u")
    stamp = Event.model_validate_json(data).timestamp
    assert stamp is not None
    assert abs((stamp - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    _, data = encode_event("a", "u", timestamp=dt.datetime(2026, 1, 1, 12))
    assert b'"timestamp":"2026-01-01T12:00:00Z"' in data


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event": ""}, "event: String should have at least 1 character"),
        ({"event": "x" * 201}, "event: String should have at most 200 characters"),
        ({"user_id": "a\x00b"}, "user_id: must not contain NUL"),
        ({"user_id": "\ud800"}, "user_id: must be valid Unicode"),
        ({"user_id": "ok\ud800"}, "user_id: must be valid Unicode"),
        ({"user_id": True}, "user_id: Input should be a valid string"),
        ({"user_id": 4.2}, "user_id: Input should be a valid string"),
        ({"properties": ["a"]}, "properties: Input should be a valid dictionary"),
        ({"properties": {"s": "x" * MAX_PROPERTIES_BYTES}}, "properties: serialized size"),
        ({"properties": {"s": "a\x00"}}, "properties: must not contain NUL"),
        ({"properties": {"s": "\udc80"}}, "properties: must be valid Unicode"),
        ({"timestamp": dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))}, "1970"),
        ({"timestamp": dt.datetime(1969, 12, 31, 23, 59)}, "timestamp: is before 1970"),
        ({"timestamp": "yesterday"}, "timestamp: must be ISO 8601"),
        ({"timestamp": 1_700_000_000}, "timestamp: must be an ISO 8601 string, not a number"),
        ({"timestamp": NOW + MAX_FUTURE + dt.timedelta(minutes=5)}, "24 hours in the future"),
        ({"event_id": "not-a-uuid"}, "event_id: Input should be a valid UUID"),
    ],
)
def test_invalid_events_are_refused_with_the_schemas_message(
    kwargs: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {"event": "signup", "user_id": "u_42", **kwargs}
    with pytest.raises(InvalidEventError) as caught:
        encode_event(**fields)
    assert message in str(caught.value)
    assert caught.value.errors


def test_depth_is_judged_exactly_even_when_brackets_hide_in_strings() -> None:
    nested: Any = "leaf"
    for _ in range(64):
        nested = {"k": nested}
    encode_event("a", "u", {"ok": "[[[[" * 40, **nested["k"]})  # 64 levels: fine
    with pytest.raises(InvalidEventError, match="nested deeper than 64"):
        encode_event("a", "u", {"too": nested})


def test_strings_and_other_ids_are_read_as_pydantic_reads_them() -> None:
    given = uuid.uuid4()
    event_id, data = encode_event("a", "u", event_id=str(given))  # type: ignore[arg-type]
    assert event_id == given
    assert json.loads(data)["event_id"] == str(given)
    _, data = encode_event("a", "u", timestamp="2026-11-02T10:15:00+01:00")  # type: ignore[arg-type]
    assert json.loads(data)["timestamp"] == "2026-11-02T09:15:00Z"


def test_encode_prepared_keeps_events_and_leaves_mappings_to_the_server() -> None:
    event = Event(event="a", user_id="u", event_id=uuid.UUID(int=3))
    assert json.loads(encode_prepared(event)) == {
        "event_id": "00000000-0000-0000-0000-000000000003",
        "event": "a",
        "user_id": "u",
    }
    stamped = {"event": "", "timestamp": "2026-11-02T09:15:00Z", "extra": {1}}
    assert json.loads(encode_prepared(stamped)) == {**stamped, "extra": [1]}


def test_send_batch_events_without_id_and_timestamp_get_an_id_so_retries_are_duplicates() -> None:
    # The server makes each send of such an event a new event; the SDK's own retries of one
    # request must not be, so it names the event once, before the first attempt.
    sent = json.loads(encode_prepared({"event": "a", "user_id": "u"}))
    assert uuid.UUID(sent["event_id"]).version == 7
    model = json.loads(encode_prepared(Event(event="a", user_id="u")))
    assert uuid.UUID(model["event_id"]).version == 7
    assert "event_id" not in json.loads(
        encode_prepared({"event": "a", "user_id": "u", "timestamp": "2026-11-02T09:15:00Z"})
    )
