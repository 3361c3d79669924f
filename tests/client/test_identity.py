"""``identify()`` and ``alias()``: PostHog's person events, queued like ``track()`` and as safe."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
import respx

import evana
from evana.client import RetryPolicy
from evana.errors import EvanaError, InvalidEventError

from .conftest import URL, batch_of

FAST = RetryPolicy(base_delay=0.001, max_delay=0.01, budget=2)


def sent(route: respx.Route) -> list[dict[str, Any]]:
    return [event for call in route.calls for event in batch_of(call.request)["events"]]


def test_identify_and_alias_queue_posthogs_events(events_route: respx.Route) -> None:
    when = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    with evana.Client(URL, "key", retry=FAST) as client:
        first = client.identify(
            "u_42", anonymous_id="anon_1", set={"plan": "pro"}, set_once={"first": "free"}
        )
        second = client.identify(42)
        third = client.alias("anon_2", "u_42", timestamp=when)
        fixed = uuid.UUID("0192f4c2-0000-7000-8000-000000000001")
        fourth = client.alias(7, 8, event_id=fixed)
        assert client.flush(timeout=5)
    assert all(isinstance(i, uuid.UUID) for i in (first, second, third))
    assert fourth == fixed
    events = {event["event_id"]: event for event in sent(events_route)}
    assert len(events) == 4
    identify = events[str(first)]
    assert (identify["event"], identify["user_id"]) == ("$identify", "u_42")
    assert identify["properties"] == {
        "$anon_distinct_id": "anon_1",
        "$set": {"plan": "pro"},
        "$set_once": {"first": "free"},
    }
    bare = events[str(second)]
    assert (bare["event"], bare["user_id"]) == ("$identify", "42")
    assert bare.get("properties") in (None, {})  # nothing given, nothing sent
    alias = events[str(third)]
    assert (alias["event"], alias["user_id"]) == ("$create_alias", "u_42")
    assert alias["properties"] == {"alias": "anon_2"}
    assert dt.datetime.fromisoformat(alias["timestamp"]) == when
    numeric = events[str(fixed)]
    assert (numeric["user_id"], numeric["properties"]) == ("8", {"alias": "7"})


def test_they_never_raise_into_the_application(events_route: respx.Route) -> None:
    errors: list[EvanaError] = []
    with evana.Client(URL, "key", retry=FAST, on_error=lambda e, error: errors.append(error)) as c:
        # Too large, an empty id, an over-long id: reported and counted, never raised.
        assert isinstance(c.identify("u_1", set={"bio": "x" * 40_000}), uuid.UUID)
        assert isinstance(c.identify("", anonymous_id="a"), uuid.UUID)
        assert isinstance(c.alias("a", ""), uuid.UUID)
        assert isinstance(c.alias("a", "u" * 201), uuid.UUID)
        assert c.flush(timeout=5)
        assert c.metrics.invalid == 4
    assert len(errors) == 4
    assert all(isinstance(error, InvalidEventError) for error in errors)
    assert events_route.call_count == 0


def test_strict_clients_raise_like_track(events_route: respx.Route) -> None:
    with evana.Client(URL, "key", retry=FAST, strict=True) as client:
        with pytest.raises(InvalidEventError):
            client.alias("anon", "")
        with pytest.raises(InvalidEventError):
            client.identify("u", set_once={"bio": "x" * 40_000})


def test_they_never_block_on_the_network(api: respx.MockRouter) -> None:
    import threading

    release = threading.Event()

    def slow(request: Any) -> Any:
        release.wait(5)
        import httpx

        return httpx.Response(202, json={"accepted": 1, "rejected": []})

    api.post("/v1/events").mock(side_effect=slow)
    with evana.Client(URL, "key", retry=FAST, flush_at=1) as client:
        client.track("warm", "u")  # the sender is now stuck in a request
        import time

        started = time.monotonic()
        for number in range(50):
            client.identify(f"u_{number}", anonymous_id=f"a_{number}")
            client.alias(f"a_{number}", f"u_{number}")
        assert time.monotonic() - started < 0.5
        release.set()


def test_async_identify_and_alias(events_route: respx.Route) -> None:
    async def main() -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        async with evana.AsyncClient(URL, "key", retry=FAST) as client:
            ids = (
                await client.identify("u_42", "anon_1", {"plan": "pro"}),
                await client.alias("anon_2", "u_42"),
                await client.identify("", "x"),  # invalid: reported, not raised
            )
            assert await client.flush(timeout=5)
            return ids

    first, second, _ = asyncio.run(main())
    events = {event["event_id"]: event for event in sent(events_route)}
    assert len(events) == 2
    assert events[str(first)]["event"] == "$identify"
    assert events[str(first)]["properties"] == {
        "$anon_distinct_id": "anon_1",
        "$set": {"plan": "pro"},
    }
    assert events[str(second)]["event"] == "$create_alias"
    assert events[str(second)]["properties"] == {"alias": "anon_2"}
