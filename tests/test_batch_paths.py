"""The fast batch path and the exact per-event path give the same answer on every body."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evana._batch import validate_batch

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)

ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=-7)), dt.timezone(dt.timedelta(hours=13, minutes=45))]
)
# Mostly valid values, with the boundaries (1970, +24 h) close by, and now and then a bad one:
# the fast path only decides whole batches that are clean, so clean batches must be common.
good_times = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1969, 12, 30), max_value=dt.datetime(1970, 1, 2), timezones=ZONES
    ),
    st.datetimes(
        min_value=dt.datetime(2026, 11, 24, 6),
        max_value=dt.datetime(2026, 11, 24, 18),
        timezones=ZONES,
    ),
    st.datetimes(
        min_value=dt.datetime(1960, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=ZONES
    ),
    st.datetimes(min_value=dt.datetime(1960, 1, 1), max_value=dt.datetime(2030, 1, 1)),
).map(lambda t: t.isoformat(sep=str((t.microsecond % 2 and " ") or "T")))
bad_times = st.one_of(
    st.sampled_from(
        [
            "2026-11-02",
            "1700000000",
            "0",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-23T12:00:00.123456789+00:00",
            "  2026-11-02",
            "2026-11-02T25:00:00Z",
        ]
    ),
    st.integers(-10, 2_000_000_000),
    st.floats(allow_nan=False),
)
timestamps = st.one_of(st.none(), good_times, good_times, good_times, bad_times)
good_names = st.one_of(
    st.sampled_from(["ok", "view", "ü✓", "\t", "x" * 200]),
    st.text(min_size=1, max_size=12).filter(lambda t: "\x00" not in t),
)
bad_names = st.sampled_from(["", "a\x00b", "x" * 201, 5, None])
names = st.one_of(good_names, good_names, good_names, good_names, bad_names)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)
properties = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=5), json_values, max_size=4),
    st.dictionaries(st.text(max_size=5), json_values, max_size=4),
    st.sampled_from([{"k": "<33 KB>"}, {"k": "nul\x00"}, {"deep": [[[[1]]]]}, [1, 2], "text"]),
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 40)) == 0:
        return draw(st.sampled_from([None, 1, "event", [], {}]))
    event: dict[str, Any] = {"event": draw(names), "user_id": draw(names)}
    if draw(st.booleans()):
        event["timestamp"] = draw(timestamps)
    if draw(st.booleans()):
        event["properties"] = draw(properties)
    if draw(st.booleans()):
        event["event_id"] = draw(
            st.one_of(
                st.uuids().map(str), st.uuids().map(lambda u: u.hex), st.just("nope"), st.none()
            )
        )
    if draw(st.integers(0, 30)) == 0:
        event["colour"] = "red"
    if draw(st.integers(0, 30)) == 0:
        del event["user_id"]
    return event


@settings(max_examples=1500, deadline=None)
@given(
    batch=st.lists(events(), max_size=4),
    sent_at=st.one_of(st.none(), timestamps),
    with_sent_at=st.booleans(),
)
def test_fast_and_exact_paths_agree(batch: list[Any], sent_at: Any, with_sent_at: bool) -> None:
    body: dict[str, Any] = {"events": batch}
    if with_sent_at:
        body["sent_at"] = sent_at
    # Big values stand in as a marker so hypothesis never has to print them.
    raw = json.dumps(body).replace("<33 KB>", "x" * 33_000).encode()
    outcomes = []
    for exact in (False, True):
        try:
            result = validate_batch(raw, received_at=NOW, exact=exact)
            outcomes.append(("ok", result.events, [(r.index, r.errors) for r in result.rejected]))
        except Exception as exc:  # the envelope errors must match too
            outcomes.append(("error", type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]


def test_a_clean_batch_takes_the_fast_path() -> None:
    # A valid batch must not fall back (else the speed-up silently disappears).
    import evana._batch as batch_module

    calls = []
    original = batch_module._validate_each
    batch_module._validate_each = lambda body: calls.append(body) or original(body)  # type: ignore[assignment]
    try:
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
                ],
                "sent_at": "2026-11-23T11:59:00Z",
            }
        ).encode()
        assert len(validate_batch(body, received_at=NOW).events) == 2
    finally:
        batch_module._validate_each = original  # type: ignore[assignment]
    assert calls == []
