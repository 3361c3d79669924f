"""Every path that judges an event gives the same verdict, with the same messages.

The paths: the server's fast batch path and its exact one (``validate_batch``), the entry the
other wire formats use (``validate_events``), ``evana ingest``'s line judge, and the SDK's
``track()`` encoder. They all take their rules from ``evana._contract``; this test is what keeps
a fast path from drifting from them. Inputs are mostly valid (so every rule's edge is reached
with the others passing), with the classes of trouble mixed in: lengths at the limits, NUL, lone
surrogates, timestamps at the calendar's ends and at the 24-hour horizon, sizes and depths at
the limits, unknown and missing fields, and a batch ``sent_at`` that corrects nothing, a real
skew, or an absurd one.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evana._contract import MAX_FUTURE, MAX_PROPERTIES_BYTES, SKEW_TOLERANCE
from evana.cli._judge import LineError, judge
from evana.client._encode import encode_event
from evana.errors import InvalidEventError
from evana.schema import Event
from evana.server._batch import EnvelopeError, validate_batch, validate_events

Verdict = tuple[Any, ...]

_now = dt.datetime.now(dt.UTC)
_zones = ["Z", "+00:00", "+05:30", "-08:00", "+14:00", ""]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


_epoch = dt.datetime(1970, 1, 1)
_boundaries = st.one_of(
    # Around the 1970 floor, in every zone (an offset moves it), and around the 24-hour horizon.
    st.integers(-2_000_000, 2_000_000).flatmap(
        lambda us: st.sampled_from(_zones).map(
            lambda z: (_epoch + dt.timedelta(microseconds=us)).isoformat() + z
        )
    ),
    st.integers(-600, 600).map(lambda s: _iso(_now + MAX_FUTURE + dt.timedelta(seconds=s))),
)
_timestamps = st.one_of(
    st.datetimes(min_value=dt.datetime(1969, 12, 31), max_value=dt.datetime(2030, 1, 1)).flatmap(
        lambda t: st.sampled_from(_zones).map(lambda z: t.isoformat() + z)
    ),
    _boundaries,
    _boundaries,
    st.sampled_from(
        [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999Z",
            "1970-01-01T00:30:00+01:00",  # 1969 in UTC
            "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
            "9999-12-31T23:59:59.999999Z",
            _iso(_now + MAX_FUTURE - dt.timedelta(minutes=5)),
            _iso(_now + MAX_FUTURE + dt.timedelta(minutes=5)),
            "2026-11-28T23:59:59.999Z",
            "2026-11-02",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "1700000000",
            "2026-11-02T09:15:00\ud83d",
        ]
    ),
    st.sampled_from([0, 1_700_000_000, 1.5, None]),
)
_plain = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
_names = st.one_of(
    _plain,
    _plain,
    _plain,
    st.sampled_from(["x" * 200, "é" * 200, "x" * 201, "", "a\x00b", "\ud83d", "ok\udc00", "日本"]),
    st.integers(-5, 5),
    st.none(),
)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["\x00", "\ud83d", "cut \ud83d emoji", "[{[{", "\\u0000"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return value


_properties = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=5), _values, max_size=4),
    st.dictionaries(st.text(max_size=5), _values, max_size=4),
    st.sampled_from(
        [
            {"deep": _nested(63)},
            {"deep": _nested(64)},
            {"\ud83d": 1},
            {"k\x00": 1},
            {"s": "x" * (MAX_PROPERTIES_BYTES - 8)},
            {"s": "x" * (MAX_PROPERTIES_BYTES - 7)},
            [1, 2],
            "text",
        ]
    ),
)
_ids = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.sampled_from(["nope", "", None, "\ud83d"]),
)


_plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
#: Events every rule but the time rules accepts: the server's fast path decides whole batches of
#: them, so they must be common, with times at the edges.
_clean = st.fixed_dictionaries(
    {"event": _plain, "user_id": _plain},
    optional={
        "timestamp": _boundaries
        | st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2027, 1, 1)).map(
            dt.datetime.isoformat
        ),
        "properties": st.dictionaries(st.text(max_size=5), _plain_values, max_size=4),
        "event_id": st.uuids().map(str),
    },
)


@st.composite
def _events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 3)) > 0:
        return draw(_clean)
    if draw(st.integers(0, 40)) == 0:
        return draw(st.sampled_from([None, 1, "event", []]))
    event: dict[str, Any] = {"event": draw(_names), "user_id": draw(_names)}
    for name, values in (
        ("timestamp", _timestamps),
        ("properties", _properties),
        ("event_id", _ids),
    ):
        if draw(st.booleans()):
            event[name] = draw(values)
    if draw(st.integers(0, 25)) == 0:
        event[draw(st.sampled_from(["colour", "\ud83d"]))] = "red"
    if draw(st.integers(0, 25)) == 0:
        del event["user_id"]
    return event


_sent_ats = st.one_of(
    st.none(),
    st.just("absent"),
    st.integers(-50, 50).map(lambda s: _iso(_now - dt.timedelta(seconds=s))),  # transit only
    st.sampled_from(
        [
            _iso(_now - dt.timedelta(hours=3)),
            _iso(_now + dt.timedelta(hours=30)),
            "2100-01-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
        ]
    ),
)


def _body(events: list[Any], sent_at: Any) -> bytes:
    envelope: dict[str, Any] = {"events": events}
    if sent_at != "absent":
        envelope["sent_at"] = sent_at
    return json.dumps(envelope).encode()  # ASCII: lone surrogates travel as \ud83d escapes


def _accepted(event: str, user_id: str, properties: Any, timestamp: Any) -> Verdict:
    return ("accepted", event, user_id, properties, timestamp)


def _server(body: bytes, now: dt.datetime, *, exact: bool) -> list[Verdict] | str:
    try:
        batch = validate_batch(body, received_at=now, exact=exact)
    except EnvelopeError as exc:
        return f"envelope: {exc}"
    return _verdicts(batch)


def _verdicts(batch: Any) -> list[Verdict]:
    out: dict[int, Verdict] = {r.index: ("rejected", r.errors) for r in batch.rejected}
    accepted = iter(batch.events)
    for index in range(batch.size):
        if index not in out:
            e = next(accepted)
            out[index] = _accepted(e.event, e.user_id, e.properties, e.timestamp)
    return [out[index] for index in range(batch.size)]


def _cli(event: Any, now: dt.datetime) -> Verdict:
    line = json.dumps(event).encode()
    try:
        payload, event_id = judge(line, now + MAX_FUTURE)
    except LineError as exc:
        return ("rejected", str(exc))
    sent = payload if isinstance(payload, Event) else Event.model_validate(payload)
    assert str(sent.event_id) == event_id
    return _accepted(sent.event, sent.user_id, sent.properties, sent.timestamp or now)


def _sdk(event: dict[str, Any], now: dt.datetime) -> Verdict:
    try:
        _, data = encode_event(**event)
    except InvalidEventError as exc:
        return ("rejected", exc.errors)
    sent = Event.model_validate_json(data)
    stamp = sent.timestamp if "timestamp" in event and event["timestamp"] is not None else now
    return _accepted(sent.event, sent.user_id, sent.properties, stamp)


def _near_horizon(event: Any, now: dt.datetime) -> bool:
    try:
        stamp = dt.datetime.fromisoformat(event["timestamp"])
    except (TypeError, KeyError, ValueError):
        return False
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    return abs(stamp - (now + MAX_FUTURE)) < dt.timedelta(seconds=2)


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_events(), min_size=1, max_size=3), sent_at=_sent_ats)
def test_every_path_gives_the_same_verdict_and_messages(events: list[Any], sent_at: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    body = _body(events, sent_at)
    fast = _server(body, now, exact=False)
    exact = _server(body, now, exact=True)
    assert fast == exact
    if isinstance(exact, str):  # the envelope itself (here: only a bad sent_at) is refused
        assert sent_at not in (None, "absent")
        return
    # The entry of other wire formats: the same events as Python objects, the same sent_at.
    stamp = None if sent_at in (None, "absent") else dt.datetime.fromisoformat(sent_at)
    for exact_only in (False, True):
        items = json.loads(body)["events"]
        judged = validate_events(items, received_at=now, sent_at=stamp, exact=exact_only)
        assert _verdicts(judged) == exact

    # The CLI and the SDK never send sent_at: compare them where it corrects nothing.
    if stamp is not None and abs(now - stamp) > SKEW_TOLERANCE:
        return
    for event, server in zip(events, exact, strict=True):
        if _near_horizon(event, now):
            continue  # the CLI and the SDK read the clock a moment later than the server
        joined = server if server[0] == "accepted" else ("rejected", "; ".join(server[1]))
        if not isinstance(event, dict):  # the CLI words it for a line: "not a JSON object"
            assert _cli(event, now)[0] == server[0] == "rejected"
            continue
        assert _cli(event, now) == joined, event
        if not (
            isinstance(event, dict)
            and {"event", "user_id"} <= event.keys() <= set(Event.model_fields)
        ):
            continue  # not a track() call
        sdk = _sdk(event, now)
        if type(event["user_id"]) is int:  # the SDK sends 42 as "42", like its peers
            as_text = {**event, "user_id": str(event["user_id"])}
            [server] = _server(_body([as_text], None), now, exact=True)
        if server[0] == "accepted" and "timestamp" not in event:
            assert sdk[:4] == server[:4]
            assert abs(sdk[4] - server[4]) < dt.timedelta(seconds=5)
        else:
            assert sdk == server, event


def test_the_inputs_reach_every_verdict() -> None:
    # The strategies must keep producing accepted events and each class of rejection, or the
    # agreement above proves little. One fixed sample of each, through the server's exact path.
    now = dt.datetime.now(dt.UTC)
    cases = {
        "accepted": {"event": "a", "user_id": "u"},
        "surrogate": {"event": "a", "user_id": "u", "properties": {"k": "cut \ud83d"}},
        "calendar": {"event": "a", "user_id": "u", "timestamp": "0001-01-01T00:00:00+01:00"},
        "future": {"event": "a", "user_id": "u", "timestamp": _iso(now + 2 * MAX_FUTURE)},
    }
    batch = validate_batch(_body(list(cases.values()), "absent"), received_at=now)
    assert [e.event_id.version for e in batch.events] == [5]
    assert [(r.index, r.errors) for r in batch.rejected] == [
        (1, ["properties: " + _contract_message("SURROGATE")]),
        (2, ["timestamp: is before 1970-01-01T00:00:00Z"]),
        (3, ["timestamp: more than 24 hours in the future"]),
    ]


def _contract_message(name: str) -> str:
    from evana import _contract

    return str(getattr(_contract, name))


def test_a_derived_id_never_repeats_for_events_without_id_and_timestamp() -> None:
    # Sent twice, or twice in one batch: each copy is a new event. With a timestamp: a duplicate.
    now = dt.datetime.now(dt.UTC)
    bare = {"event": "app_open", "user_id": "u"}
    stamped = {**bare, "timestamp": "2026-11-02T09:15:00Z"}
    first = validate_batch(_body([bare, bare, stamped], "absent"), received_at=now)
    again = validate_batch(
        _body([bare, bare, stamped], "absent"), received_at=now + dt.timedelta(seconds=1)
    )
    ids = [e.event_id for e in first.events] + [e.event_id for e in again.events]
    assert len(set(ids)) == 5
    assert first.events[2].event_id == again.events[2].event_id
    # The fast and the exact path derive the same ids.
    exact = validate_batch(_body([bare, bare, stamped], "absent"), received_at=now, exact=True)
    assert [e.event_id for e in exact.events] == [e.event_id for e in first.events]
    assert uuid.UUID(str(ids[0])).version == 5
