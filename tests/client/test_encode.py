"""``track()``'s validation and encoding: JSON-safe properties, and the fast path == ``Event``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Mapping
from typing import Any

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

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
        ({"user_id": "\ud800"}, "user_id: Input should be a valid string"),
        ({"user_id": "ok\ud800"}, "user_id: Input should be a valid string"),
        ({"user_id": 42}, "user_id: Input should be a valid string"),
        ({"properties": ["a"]}, "properties: Input should be a valid dictionary"),
        ({"properties": {"s": "x" * MAX_PROPERTIES_BYTES}}, "properties: serialized size"),
        ({"properties": {"s": "a\x00"}}, "properties: must not contain NUL"),
        ({"properties": {"s": "\udc80"}}, "properties: not serializable as JSON"),
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
    assert json.loads(encode_prepared({"event": "", "extra": {1}})) == {"event": "", "extra": [1]}


# -- the fast path gives exactly Event's verdict (hypothesis) --------------------------------


def reference(
    event: Any, user_id: Any, properties: Any, timestamp: Any, event_id: Any, now: dt.datetime
) -> Event | None:
    """Event's own verdict on what the server will receive; None when it refuses."""
    wire = properties
    if isinstance(properties, Mapping):
        try:
            raw = pydantic_core.to_json(properties, fallback=str, inf_nan_mode="null")
        except (pydantic_core.PydanticSerializationError, ValueError):
            return None
        wire = pydantic_core.from_json(raw)
    try:
        model = Event(
            event_id=event_id,
            event=event,
            user_id=user_id,
            timestamp=now if timestamp is None else timestamp,
            properties=wire,
        )
    except ValidationError:
        return None
    assert model.timestamp is not None
    if model.timestamp > dt.datetime.now(dt.UTC) + MAX_FUTURE:
        return None
    return model


special = st.sampled_from(
    ["", "a", "x" * 200, "x" * 201, "é" * 200, "é" * 201, "a\x00b", "\ud800", "ok\udfff", "日本"]
)
plain = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), min_size=1, max_size=200
)
# Mostly valid names, so that the other fields' rules get exercised too.
names = st.one_of(
    plain,
    plain,
    plain,
    special,
    st.text(max_size=210),
    st.integers(),
    st.none(),
    st.binary(max_size=4),
)


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["\x00", "[{[{", "\\u0000", "\ud800"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
odd_values = st.sampled_from(
    [decimal.Decimal("1.5"), {1, 2}, (1, "a"), dt.date(2026, 1, 1), Color.RED, Opaque(), b"\xff"]
)
properties = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=8) | st.integers(), json_values | odd_values, max_size=6),
    st.integers(58, 70).map(lambda depth: {"deep": nested(depth)}),
    st.integers(58, 70).map(lambda depth: {"deep": nested(depth), "s": "[" * 80}),
    st.integers(MAX_PROPERTIES_BYTES - 40, MAX_PROPERTIES_BYTES + 40).map(
        lambda size: {"s": "x" * (size - 8)}
    ),
    st.just({1: "a", "1": "b" * (MAX_PROPERTIES_BYTES - 8)}),  # duplicate keys after str()
    st.just(["not", "a", "dict"]),
)
past = st.datetimes(min_value=dt.datetime(1969, 12, 31), max_value=dt.datetime(2026, 1, 1))
timestamps = st.one_of(
    st.none(),
    past,
    past.map(lambda stamp: stamp.replace(tzinfo=dt.UTC)),
    past.map(lambda stamp: stamp.replace(tzinfo=dt.timezone(dt.timedelta(hours=-11)))),
    past.map(lambda stamp: stamp.replace(tzinfo=dt.timezone(dt.timedelta(hours=14)))),
    st.sampled_from([NOW + MAX_FUTURE - dt.timedelta(minutes=1), NOW + 2 * MAX_FUTURE]),
    st.sampled_from(["2026-11-02T09:15:00Z", "2026-11-02", "nope", 1_700_000_000, 1.5]),
)
event_ids = st.one_of(st.none(), st.none(), st.uuids(), st.uuids().map(str), st.just("zzz"))


def check(event: Any, user_id: Any, props: Any, timestamp: Any, event_id: Any) -> None:
    """encode_event accepts exactly what Event accepts, and encodes the same event."""
    before = dt.datetime.now(dt.UTC)
    try:
        got_id, data = encode_event(event, user_id, props, timestamp, event_id)
    except InvalidEventError:
        got = None
    else:
        got = Event.model_validate_json(data)
        assert got.event_id == got_id
    expected = reference(event, user_id, props, timestamp, event_id, before)
    if expected is None or got is None:
        assert got is None, f"accepted what Event refuses: {data!r}"
        assert expected is None, "refused what Event accepts"
        return
    assert (got.event, got.user_id, got.properties) == (
        expected.event,
        expected.user_id,
        expected.properties,
    )
    if timestamp is None:
        assert got.timestamp is not None
        assert before <= got.timestamp <= dt.datetime.now(dt.UTC)
    else:
        assert got.timestamp == expected.timestamp
    if event_id is not None:
        assert got.event_id == expected.event_id


# One field at a time (the others valid), so every rule's edge is hit often; then all at once.
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@EXAMPLES
@given(names, names)
def test_the_fast_path_agrees_with_event_on_names(event: Any, user_id: Any) -> None:
    check(event, user_id, None, None, None)


@EXAMPLES
@given(properties)
def test_the_fast_path_agrees_with_event_on_properties(props: Any) -> None:
    check("signup", "u_42", props, None, None)


@EXAMPLES
@given(timestamps, event_ids)
def test_the_fast_path_agrees_with_event_on_timestamps_and_ids(
    timestamp: Any, event_id: Any
) -> None:
    check("signup", "u_42", None, timestamp, event_id)


@EXAMPLES
@given(names, names, properties, timestamps, event_ids)
def test_the_fast_path_agrees_with_event_on_every_input(
    event: Any, user_id: Any, props: Any, timestamp: Any, event_id: Any
) -> None:
    check(event, user_id, props, timestamp, event_id)
