"""The wire modules' mapping, one rule at a time (no server: the routes' tests cover the rest)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import json
import uuid
from typing import Any

import pytest

from evana.errors import InvalidRequestError, PayloadTooLargeError
from evana.server._wire import WIRE_ID_NAMESPACE, posthog, segment

NOW = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def ph(payload: Any, **query: str) -> Any:
    return posthog.read(payload, query=query, received_at=NOW)


def test_posthog_distinct_id_from_each_place_numbers_as_text() -> None:
    out = ph(
        [
            {"event": "a", "distinct_id": 42},
            {"event": "b", "$distinct_id": "d2"},
            {"event": "c", "properties": {"distinct_id": 7.0}},
            {"event": "d"},
        ]
    )
    assert [m.event["user_id"] for m in out.messages] == ["42", "d2", "7", None]


def test_posthog_top_level_set_moves_into_the_properties_and_the_token_goes() -> None:
    (message,) = ph(
        [
            {
                "event": "$identify",
                "distinct_id": "u",
                "$set": {"plan": "pro"},
                "properties": {"token": "k", "$token": "k", "x": 1},
            }
        ]
    ).messages
    assert message.event["properties"] == {"$set": {"plan": "pro"}, "x": 1}


def test_posthog_clocks() -> None:
    sent = "2026-11-02T11:00:00+00:00"
    out = ph(
        {
            "batch": [
                {"event": "a", "distinct_id": "u", "timestamp": "2026-11-02T10:59:00Z"},
                {
                    "event": "b",
                    "distinct_id": "u",
                    "timestamp": "2026-11-02T10:59:00Z",
                    "properties": {"$ignore_sent_at": True},
                },
                {"event": "c", "distinct_id": "u", "offset": 1500},
                {
                    "event": "d",
                    "distinct_id": "u",
                    "timestamp": "2026-11-02T10:59:00Z",
                    "sent_at": "2026-11-02T10:00:00Z",
                },
            ],
            "sent_at": sent,
        }
    )
    clocks = [m.sent_at for m in out.messages]
    assert clocks[0] == dt.datetime.fromisoformat(sent)
    assert clocks[1] is None
    assert clocks[2] is None
    assert out.messages[2].event["timestamp"] == (NOW - dt.timedelta(milliseconds=1500)).isoformat()
    assert clocks[3] == dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)


def test_posthog_js_query_clock_in_milliseconds() -> None:
    ms = str(int(dt.datetime(2026, 11, 2, 11, tzinfo=dt.UTC).timestamp() * 1000))
    for name in ("sent_at", "_"):
        (message,) = ph(
            [{"event": "a", "distinct_id": "u", "timestamp": "2026-11-02T10:00:00Z"}], **{name: ms}
        ).messages
        assert message.sent_at == dt.datetime(2026, 11, 2, 11, tzinfo=dt.UTC)


def test_posthog_historical_migration_has_no_clock() -> None:
    out = ph(
        {
            "historical_migration": True,
            "sent_at": "2020-01-01T00:00:00Z",
            "batch": [{"event": "a", "distinct_id": "u", "timestamp": "2019-01-01T00:00:00Z"}],
        }
    )
    assert out.messages[0].sent_at is None


def test_posthog_keys_and_ids() -> None:
    assert ph({"token": "t1", "batch": []}).key == "t1"
    assert ph([{"event": "a", "$token": "t2"}]).key == "t2"
    assert ph({"event": "a", "api_key": "t3"}).key == "t3"
    assert ph([{"event": "a"}]).key is None
    out = ph([{"event": "a", "uuid": "x-1"}, {"event": "b", "uuid": str(uuid.UUID(int=5))}])
    assert out.messages[0].event["event_id"] == str(uuid.uuid5(WIRE_ID_NAMESPACE, "x-1"))
    assert out.messages[1].event["event_id"] == str(uuid.UUID(int=5))


def test_posthog_unreadable_bodies_are_400() -> None:
    for payload in (3, "text", None):
        with pytest.raises(InvalidRequestError) as caught:
            ph(payload)
        assert caught.value.status_code == 400
    assert [d.index for d in ph([1, {"event": "a"}, []]).dropped] == [0, 2]


def decode(body: bytes, content_type: str | None = None, **query: str) -> Any:
    return asyncio.run(posthog.decode(body, content_type=content_type, query=query, limit=10_000))


def test_posthog_decodings() -> None:
    text = json.dumps([{"event": "a"}]).encode()
    assert decode(text) == [{"event": "a"}]
    assert decode(gzip.compress(text)) == [{"event": "a"}]
    assert decode(base64.b64encode(text)) == [{"event": "a"}]
    assert decode(base64.b64encode(gzip.compress(text)), compression="base64") == [{"event": "a"}]
    form = b"data=" + base64.b64encode(text).replace(b"+", b"%2B")
    assert decode(form, "application/x-www-form-urlencoded") == [{"event": "a"}]
    with pytest.raises(PayloadTooLargeError):
        decode(gzip.compress(b"[" + b" " * 20_000 + b"]"))
    with pytest.raises(InvalidRequestError):
        decode(b"\x1f\x8bnot gzip")
    with pytest.raises(InvalidRequestError):
        decode(b"data=", "application/x-www-form-urlencoded", compression="lz64")


def sg(payload: Any, kind: str | None = None) -> Any:
    return segment.read(payload, kind=kind)


def test_segment_user_and_context() -> None:
    out = sg(
        {
            "batch": [
                {"type": "track", "event": "a", "anonymousId": "anon", "context": {"ip": "1"}},
                {"type": "TRACK", "event": "b", "userId": 12, "anonymousId": "anon"},
            ],
            "context": {"library": {"name": "x"}, "ip": "0"},
        }
    )
    first, second = (m.event for m in out.messages)
    assert first["user_id"] == "anon"
    assert first["properties"] == {"$context": {"library": {"name": "x"}, "ip": "1"}}
    assert second["user_id"] == "12"


def test_segment_person_types() -> None:
    alias = sg({"userId": "new", "previousId": "old"}, "alias").messages[0].event
    assert (alias["event"], alias["user_id"], alias["properties"]) == (
        "$create_alias",
        "new",
        {"alias": "old"},
    )
    identify = sg({"anonymousId": "a"}, "identify").messages[0].event
    assert (identify["event"], identify["user_id"], identify["properties"]) == (
        "$identify",
        "a",
        None,
    )


def test_segment_timestamp_and_clocks() -> None:
    out = sg(
        {
            "batch": [
                {
                    "type": "track",
                    "event": "a",
                    "userId": "u",
                    "originalTimestamp": "2026-11-01T00:00:00Z",
                },
                {
                    "type": "track",
                    "event": "b",
                    "userId": "u",
                    "timestamp": "2026-11-01T00:00:00Z",
                    "sentAt": "2026-11-01T00:00:05Z",
                },
                {"type": "track", "event": "c", "userId": "u"},
            ],
            "sentAt": "2026-11-01T00:00:10Z",
        }
    )
    assert [m.sent_at for m in out.messages] == [
        dt.datetime(2026, 11, 1, 0, 0, 10, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 1, 0, 0, 5, tzinfo=dt.UTC),
        None,
    ]
    assert out.messages[0].event["timestamp"] == "2026-11-01T00:00:00Z"


def test_segment_unreadable_bodies_are_400() -> None:
    for payload, kind in (([], None), ({"batch": "x"}, None), ("x", "track")):
        with pytest.raises(InvalidRequestError):
            sg(payload, kind)
