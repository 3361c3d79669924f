"""``evana.Client`` against a mocked API (respx): batching, gzip, dedup, errors, queue policies."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

import evana
from evana.client import RetryPolicy
from evana.errors import (
    ConfigurationError,
    EvanaError,
    InvalidEventError,
    PayloadTooLargeError,
    QueueFullError,
    TransportError,
)
from evana.schema import Event

from .conftest import URL, accepted, batch_of

FAST = RetryPolicy(base_delay=0.001, max_delay=0.01, budget=2)


def make(**options: Any) -> evana.Client:
    options.setdefault("retry", FAST)
    return evana.Client(URL, "key", **options)


def batches(route: respx.Route) -> list[list[dict[str, Any]]]:
    return [batch_of(call.request)["events"] for call in route.calls]


def wait_until(predicate: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


class Gate:
    """A respx side effect that holds every request until opened."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.waiting = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.waiting += 1
        self.open.wait(10)
        return accepted(request)


# -- track --------------------------------------------------------------------------------------


def test_track_returns_a_uuid7_and_does_not_wait_for_the_network(api: respx.MockRouter) -> None:
    gate = Gate()
    api.post("/v1/events").mock(side_effect=gate)
    with make(flush_at=1) as client:
        started = time.monotonic()
        ids = [client.track("signup", f"u_{n}") for n in range(50)]
        assert time.monotonic() - started < 0.5
        assert wait_until(lambda: gate.waiting == 1)  # the sender is stuck, track() is not
        assert {i.version for i in ids} == {7}
        assert client.metrics.queued == 50
        gate.open.set()
        assert client.flush(5)


def test_a_given_event_id_is_kept(events_route: respx.Route) -> None:
    given = uuid.uuid4()
    with make() as client:
        assert client.track("signup", "u_1", event_id=given) == given
        assert client.flush(5)
    assert batches(events_route)[0][0]["event_id"] == str(given)


def test_events_go_out_as_the_server_reads_them(events_route: respx.Route) -> None:
    when = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    with make() as client:
        client.track("purchase", "u_42", {"amount": 9.5, "at": dt.date(2026, 1, 1)}, when)
        assert client.flush(5)
    request = events_route.calls[0].request
    assert request.headers["x-api-key"] == "key"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["user-agent"].startswith("evana-python/")
    body = batch_of(request)
    sent_at = dt.datetime.fromisoformat(body["sent_at"])
    assert abs((sent_at - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    event = Event.model_validate(body["events"][0])
    assert (event.event, event.user_id, event.timestamp) == ("purchase", "u_42", when)
    assert event.properties == {"amount": 9.5, "at": "2026-01-01"}


def test_gzip_can_be_turned_off(events_route: respx.Route) -> None:
    with make(gzip=False) as client:
        client.track("a", "u")
        assert client.flush(5)
    request = events_route.calls[0].request
    assert "content-encoding" not in request.headers
    assert batch_of(request)["events"][0]["event"] == "a"


# -- batching -----------------------------------------------------------------------------------


def test_a_batch_goes_out_at_flush_at_events_without_waiting_for_the_interval(
    events_route: respx.Route,
) -> None:
    with make(flush_at=5, flush_interval=30) as client:
        for n in range(12):
            client.track("view", f"u_{n}")
        assert wait_until(lambda: events_route.call_count == 2)
        time.sleep(0.1)
        assert events_route.call_count == 2  # the last 2 wait for the interval or a flush
        assert client.metrics.queued == 2
        assert client.flush(5)
    assert [len(b) for b in batches(events_route)] == [5, 5, 2]


def test_a_batch_goes_out_at_the_byte_budget(events_route: respx.Route) -> None:
    budget = 4096
    with make(flush_at=1000, flush_interval=30, max_batch_bytes=budget, gzip=False) as client:
        for n in range(20):
            client.track("view", f"u_{n}", {"padding": "x" * 500})
        assert wait_until(lambda: events_route.call_count >= 2)
        assert client.flush(5)
    sizes = [len(call.request.content) for call in events_route.calls]
    assert all(size <= budget for size in sizes)
    assert sum(len(b) for b in batches(events_route)) == 20
    assert len(sizes) >= 3


def test_a_partial_batch_goes_out_after_flush_interval(events_route: respx.Route) -> None:
    with make(flush_at=100, flush_interval=0.2) as client:
        started = time.monotonic()
        client.track("view", "u_1")
        client.track("view", "u_2")
        assert wait_until(lambda: events_route.call_count == 1, timeout=3)
        assert time.monotonic() - started < 1.5
    assert [len(b) for b in batches(events_route)] == [2]


# -- dedup --------------------------------------------------------------------------------------


def test_an_exact_duplicate_id_is_dropped_locally_whether_queued_or_sent(
    events_route: respx.Route,
) -> None:
    same = uuid.uuid4()
    with make() as client:
        client.track("signup", "u_1", event_id=same)
        client.track("signup", "u_1", event_id=same)  # still queued
        assert client.flush(5)
        client.track("signup", "u_1", event_id=same)  # recently sent
        assert client.flush(5)
        assert client.metrics.duplicates == 2
    assert [e["event_id"] for b in batches(events_route) for e in b] == [str(same)]


def test_dedup_memory_is_bounded_by_its_window(events_route: respx.Route) -> None:
    first = uuid.uuid4()
    with make(dedup_window=10) as client:
        client.track("signup", "u_1", event_id=first)
        for n in range(10):
            client.track("view", f"u_{n}")
        client.track("signup", "u_1", event_id=first)  # forgotten: left to the server
        assert client.flush(5)
        assert client._core.queue.remembered() == 10
    sent = [e["event_id"] for b in batches(events_route) for e in b]
    assert sent.count(str(first)) == 2


# -- errors -------------------------------------------------------------------------------------


def test_rejected_events_go_to_on_error_and_a_raising_callback_cannot_stop_the_sender(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    route = api.post("/v1/events")
    route.side_effect = [
        httpx.Response(202, json={"accepted": 1, "rejected": [{"index": 1, "errors": ["no"]}]}),
        accepted,
    ]
    seen: list[tuple[dict[str, Any], EvanaError]] = []

    def on_error(event: dict[str, Any], error: EvanaError) -> None:
        seen.append((event, error))
        raise RuntimeError("the application's callback is broken")

    with make(on_error=on_error) as client:
        client.track("ok", "u_1")
        bad = client.track("refused", "u_2")
        assert client.flush(5) is False  # one event was rejected
        client.track("later", "u_3")
        assert client.flush(5) is True  # the sender lives on
        metrics = client.metrics
    assert (metrics.delivered, metrics.rejected) == (2, 1)
    [(event, error)] = seen
    assert event["event_id"] == str(bad)
    assert event["event"] == "refused"
    assert isinstance(error, InvalidEventError)
    assert error.errors == ["no"]
    assert "callback raised" in caplog.text


def test_an_invalid_event_is_reported_and_counted_not_raised(events_route: respx.Route) -> None:
    seen: list[tuple[dict[str, Any], EvanaError]] = []
    with make(on_error=lambda event, error: seen.append((event, error))) as client:
        event_id = client.track("", "u_1", {"x": 1})
        assert isinstance(event_id, uuid.UUID)
        assert client.metrics.invalid == 1
        assert client.flush(5)
    assert events_route.call_count == 0
    [(event, error)] = seen
    assert event["event"] == ""
    assert event["properties"] == {"x": 1}
    assert isinstance(error, InvalidEventError)


def test_strict_mode_raises_invalid_events(events_route: respx.Route) -> None:
    with make(strict=True) as client, pytest.raises(InvalidEventError, match="event:"):
        client.track("", "u_1")


def test_nothing_escapes_track_without_strict(api: respx.MockRouter) -> None:
    api.post("/v1/events").mock(side_effect=RuntimeError("a broken transport"))
    errors: list[EvanaError] = []
    with make(on_error=lambda e, error: errors.append(error)) as client:
        client.track(None, object(), properties=object(), timestamp="never")  # type: ignore[arg-type]
        client.track("ok", "u_1")
        assert client.flush(5) is False
    assert isinstance(errors[0], InvalidEventError)
    assert isinstance(errors[1], TransportError)


def test_without_on_error_failures_are_logged(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    api.post("/v1/events").respond(403, json={"error": "forbidden", "detail": "needs ingest"})
    with make() as client:
        client.track("a", "u")
        assert client.flush(5) is False
    assert "1 event(s) not delivered: 403 forbidden: needs ingest" in caplog.text


# -- a full queue -------------------------------------------------------------------------------


@contextlib.contextmanager
def full_queue(api: respx.MockRouter, **options: Any) -> Iterator[tuple[evana.Client, Gate]]:
    """A client whose sender is stuck on one batch and whose queue (one event) is full."""
    gate = Gate()
    api.post("/v1/events").mock(side_effect=gate)
    with make(flush_at=1, max_queue_size=1, **options) as client:
        client.track("a", "u_0")
        assert wait_until(lambda: gate.waiting == 1)
        client.track("a", "u_1")
        try:
            yield client, gate
        finally:
            gate.open.set()


def test_a_full_queue_drops_counts_and_tells_on_drop(api: respx.MockRouter) -> None:
    dropped: list[tuple[dict[str, Any], str]] = []
    with full_queue(api, on_drop=lambda e, r: dropped.append((e, r))) as (client, gate):
        client.track("a", "u_2")
        client.track("a", "u_3")
        assert client.metrics.dropped == 2
        assert [(e["user_id"], r) for e, r in dropped] == [
            ("u_2", "queue_full"),
            ("u_3", "queue_full"),
        ]
        gate.open.set()
        assert client.flush(5)
        assert client.metrics.delivered == 2


def test_a_full_queue_raises_when_asked_to(api: respx.MockRouter) -> None:
    with full_queue(api, on_full="raise") as (client, _):
        with pytest.raises(QueueFullError):
            client.track("a", "u_2")
        assert client.metrics.dropped == 1


def test_a_full_queue_blocks_until_there_is_room(api: respx.MockRouter) -> None:
    with full_queue(api, on_full="block") as (client, gate):
        done = threading.Event()
        blocked = threading.Thread(target=lambda: (client.track("a", "u_2"), done.set()))
        blocked.start()
        assert not done.wait(0.3)  # waiting for room
        gate.open.set()
        assert done.wait(5)
        blocked.join()
        assert client.flush(5)
        assert client.metrics.delivered == 3
        assert client.metrics.dropped == 0


# -- modes and lifecycle ------------------------------------------------------------------------


def test_sync_mode_sends_inline(events_route: respx.Route) -> None:
    with make(sync_mode=True) as client:
        client.track("a", "u_1")
        assert events_route.call_count == 1
        client.track("a", "u_2")
        assert events_route.call_count == 2
        assert client._sender is None
        assert client.metrics.delivered == 2


def test_disabled_sends_nothing_and_starts_nothing(events_route: respx.Route) -> None:
    with make(disabled=True) as client:
        assert client.track("a", "u_1").version == 7
        assert client.flush(1)
        assert client._sender is None
    assert events_route.call_count == 0


def test_flush_says_false_when_time_runs_out(api: respx.MockRouter) -> None:
    gate = Gate()
    api.post("/v1/events").mock(side_effect=gate)
    with make() as client:
        client.track("a", "u_1")
        assert client.flush(0.2) is False
        gate.open.set()
        assert client.flush(5) is True


def test_close_gives_up_at_its_deadline_and_reports_what_it_could_not_send(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    api.post("/v1/events").mock(side_effect=gate)
    dropped: list[str] = []
    client = make(flush_at=1, on_drop=lambda e, reason: dropped.append(reason))
    client.track("a", "u_1")
    assert wait_until(lambda: gate.waiting == 1)
    client.track("a", "u_2")
    started = time.monotonic()
    assert client.close(timeout=0.3) is False
    assert time.monotonic() - started < 1.5
    assert dropped == ["shutdown"]  # the queued event
    assert "1 event(s) were still being sent at the close deadline" in caplog.text
    client.track("a", "u_3")  # after close: dropped, not raised
    assert dropped == ["shutdown", "closed"]
    gate.open.set()


def test_the_context_manager_flushes_on_exit(events_route: respx.Route) -> None:
    with make(flush_interval=30) as client:
        client.track("a", "u_1")
    assert events_route.call_count == 1
    assert client.close() is True  # closing twice is harmless


# -- send_batch ---------------------------------------------------------------------------------


def test_send_batch_returns_the_servers_verdict(api: respx.MockRouter) -> None:
    route = api.post("/v1/events").respond(
        202, json={"accepted": 1, "rejected": [{"index": 1, "errors": ["event: too short"]}]}
    )
    with make() as client:
        result = client.send_batch(
            [
                Event(event="a", user_id="u", event_id=uuid.UUID(int=1)),
                {"event": "", "user_id": "u"},
            ]
        )
    assert result.accepted == 1
    assert result.rejected[0].index == 1
    body = batch_of(route.calls[0].request)
    # Neither id nor timestamp: the SDK names the event once, so a retry is a duplicate.
    assert uuid.UUID(body["events"][1].pop("event_id")).version == 7
    assert body["events"] == [
        {"event_id": "00000000-0000-0000-0000-000000000001", "event": "a", "user_id": "u"},
        {"event": "", "user_id": "u"},
    ]
    # Prepared events' timestamps are facts: no sent_at, so the server never moves them.
    assert "sent_at" not in body


def test_send_batch_raises_the_final_error(api: respx.MockRouter) -> None:
    api.post("/v1/events").respond(413, json={"error": "payload_too_large", "detail": "split"})
    with make() as client, pytest.raises(PayloadTooLargeError, match="split"):
        client.send_batch([{"event": "a", "user_id": "u"}])


def test_send_batch_is_thread_safe(events_route: respx.Route) -> None:
    with make() as client:
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda n=n: results.append(
                    client.send_batch(
                        [{"event": "a", "user_id": f"u{n}_{i}"} for i in range(50)]
                    ).accepted
                )
            )
            for n in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [50] * 8


# -- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"flush_at": 0}, "flush_at"),
        ({"flush_at": 5001}, "flush_at"),
        ({"max_batch_bytes": 20 * 1024 * 1024}, "max_batch_bytes"),
        ({"on_full": "wait"}, "on_full"),
        ({"flush_interval": -1}, "flush_interval"),
        ({"on_error": "print"}, "on_error"),
        ({"colour": "blue"}, "unknown client option"),
        ({"retry": 3}, "RetryPolicy"),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        evana.Client(URL, "key", **options)


def test_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVANA_URL", "http://from-env:9000/")
    monkeypatch.setenv("EVANA_API_KEY", "env-key")
    with evana.Client() as client:
        assert client._core.options.url == "http://from-env:9000"
        assert client._core.options.api_key == "env-key"
    monkeypatch.delenv("EVANA_API_KEY")
    with pytest.raises(ConfigurationError, match="api_key"):
        evana.Client()
    with pytest.raises(ConfigurationError, match="url"):
        evana.Client("ftp://x", "k")
