"""Hypothesis strategies of JSON lines: valid events in many spellings, near misses, and junk."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from evana.cli._judge import horizon
from evana.schema import Event, derive_event_id

__all__ = ["expected", "lines"]

_names = st.text(max_size=5) | st.integers() | st.none() | st.just("x" * 201)
_good = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
_stamps = st.sampled_from(
    [
        "2026-11-02T09:15:00Z",
        "2026-11-02T09:15:00.5+05:30",
        "2026-11-02T09:15:00.123456-08:00",
        "2026-11-02T09:15:00",  # naive: UTC, decided by Event
        "2026-11-02",
        "2026-11-02 09:15:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-02T24:00:00Z",
        "2026-11-02T09:15:00+24:00",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2999-01-01T00:00:00Z",
        "x",
    ]
) | st.integers(min_value=-2, max_value=2)
_ids = (
    st.uuids().map(str)
    | st.uuids().map(lambda u: str(u).upper())
    | st.uuids().map(lambda u: u.hex)
    | st.sampled_from(["not-a-uuid", "", "0" * 32, "{12345678-1234-5678-1234-567812345678}"])
    | st.none()
)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_props = st.dictionaries(st.text(max_size=4), _values, max_size=4)


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


_odd_props = st.sampled_from(
    [_deep(63), _deep(64), _deep(65), {"big": "x" * 40_000}, {"n": "\x00"}, {"e": [1e15] * 2000}]
)
_valid = st.fixed_dictionaries(
    {"event": _good, "user_id": _good},
    optional={"event_id": _ids, "timestamp": _stamps, "properties": _props | _odd_props},
)
_near = st.fixed_dictionaries(
    {"event": _names, "user_id": _names},
    optional={
        "event_id": _ids,
        "timestamp": _stamps,
        "properties": _props | st.just([1]),
        "x": _names,
    },
)


def _dump(data: Any, ascii_only: bool) -> str:
    return json.dumps(data, ensure_ascii=ascii_only)


_numbers = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-0.0"])
_number_lines = st.builds(
    '{{"event": "a", "user_id": "u", "properties": {{"n": [1, {{"x": {}}}]}}}}'.format, _numbers
)

#: One line (no newline in it) of bytes.
lines = (
    _number_lines
    | st.builds(_dump, _valid, st.booleans())
    | st.builds(_dump, _near, st.booleans())
    | _values.map(json.dumps)
    | _near.map(lambda d: json.dumps(d)[: len(json.dumps(d)) // 2])  # cut short
    | st.text(max_size=30)
).map(str.encode) | st.binary(max_size=40)


def expected(line: bytes) -> Event | None:
    """``Event``'s verdict on a line (with the 24-hour rule), its id set; None for a bad line."""
    try:
        event = Event.model_validate_json(line)
    except ValidationError:
        return None
    if event.timestamp is not None and event.timestamp > horizon():
        return None
    if event.event_id is None:
        derived = derive_event_id(event.event, event.user_id, event.timestamp, event.properties)
        event = event.model_copy(update={"event_id": derived})
    return event
