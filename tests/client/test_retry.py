"""Retry rules: which failures are retried, backoff bounds, Retry-After, the time budget."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
import respx

import evana
from evana.client import RetryPolicy
from evana.client._retry import Backoff, call, is_retryable
from evana.client._transport import Response
from evana.client._wire import parse_retry_after
from evana.errors import (
    APIError,
    AuthenticationError,
    PayloadTooLargeError,
    RateLimitedError,
    ServiceUnavailableError,
    TransportError,
    error_for_status,
)

from .conftest import URL, accepted


class FakeClock:
    """A clock that only moves when the fake sleep says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.slept.append(seconds)
        self.now += seconds
        return False


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_5xx_408_429_and_network_errors_are_retryable(status: int) -> None:
    assert is_retryable(error_for_status(status, None, "x"))
    assert is_retryable(TransportError("connection refused"))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 415, 422])
def test_other_4xx_are_not(status: int) -> None:
    assert not is_retryable(error_for_status(status, None, "x"))
    assert not is_retryable(ValueError("a bug"))


def test_full_jitter_stays_within_the_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, budget=1e9)
    top = Backoff(policy, rand=lambda: 1.0 - 1e-12)
    assert [round(top.delay(TransportError("x")), 6) for _ in range(6)] == [  # type: ignore[arg-type]
        0.5,
        1.0,
        2.0,
        4.0,
        4.0,
        4.0,
    ]
    bottom = Backoff(policy, rand=lambda: 0.0)
    assert [bottom.delay(TransportError("x")) for _ in range(3)] == [0.0, 0.0, 0.0]
    real = Backoff(policy)
    for attempt in range(20):
        wait = real.delay(TransportError("x"))
        assert wait is not None
        assert 0 <= wait <= min(4.0, 0.5 * 2**attempt)


def test_retry_after_raises_the_wait_but_never_past_the_budget() -> None:
    clock = FakeClock()
    backoff = Backoff(
        RetryPolicy(base_delay=0.1, max_delay=1, budget=10), clock=clock, rand=lambda: 0.5
    )
    limited = RateLimitedError("slow down", retry_after=3)
    assert backoff.delay(limited, 3.0) == 3.0
    clock.now += 3
    assert backoff.delay(limited, 7.5) is None  # 3 + 7.5 would end past the 10 s budget
    assert backoff.delay(limited, 5.0) == 5.0


def test_giving_up_when_the_budget_is_spent() -> None:
    clock = FakeClock()
    backoff = Backoff(
        RetryPolicy(base_delay=1, max_delay=1, budget=3.5), clock=clock, rand=lambda: 1.0
    )
    waits = []
    while (wait := backoff.delay(TransportError("down"))) is not None:
        waits.append(wait)
        clock.now += wait
    assert waits == [1.0, 1.0, 1.0]
    assert backoff.retries == 3


def test_a_closing_client_lowers_the_deadline_of_a_request_under_way() -> None:
    clock = FakeClock()
    deadline: list[float | None] = [None]
    backoff = Backoff(
        RetryPolicy(base_delay=2, max_delay=2, budget=60),
        clock=clock,
        rand=lambda: 1.0,
        deadline=lambda: deadline[0],
    )
    assert backoff.delay(TransportError("down")) == 2.0
    deadline[0] = clock.now + 1
    assert backoff.delay(TransportError("down")) is None


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": " 1.5 "}) == 1.5
    assert parse_retry_after({"retry-after": "-3"}) == 0.0
    now = time.time()
    stamp = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after({"retry-after": stamp}, now=now) <= 31  # type: ignore[operator]
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({}) is None


def test_call_retries_until_success_and_honours_retry_after() -> None:
    clock = FakeClock()
    answers = iter(
        [
            Response(503, {"retry-after": "2"}, b'{"error": "unavailable", "detail": "x"}'),
            Response(429, {"retry-after": "4"}, b'{"error": "rate_limited", "detail": "x"}'),
            Response(500, {}, b"oops"),
            Response(202, {}, b"{}"),
        ]
    )
    backoff = Backoff(
        RetryPolicy(base_delay=0.25, max_delay=8, budget=60), clock=clock, rand=lambda: 1.0
    )
    assert call(lambda: next(answers), backoff, clock.sleep).status_code == 202
    assert clock.slept == [2.0, 4.0, 1.0]  # Retry-After twice, then 0.25 * 2**2


def test_call_raises_the_mapped_error_without_retrying_a_4xx() -> None:
    clock = FakeClock()
    sent = []

    def send() -> Response:
        sent.append(1)
        return Response(401, {}, b'{"error": "unauthorized", "detail": "unknown key"}')

    with pytest.raises(AuthenticationError) as caught:
        call(send, Backoff(RetryPolicy(), clock=clock), clock.sleep)
    assert caught.value.detail == "unknown key"
    assert len(sent) == 1
    assert clock.slept == []


def test_call_stops_when_the_sleep_is_interrupted() -> None:
    def down() -> Response:
        raise TransportError("refused")

    with pytest.raises(TransportError):
        call(down, Backoff(RetryPolicy(base_delay=0.01)), lambda seconds: True)


# -- through a real Client, HTTP mocked with respx ---------------------------------------------


def fast_client(**options: object) -> evana.Client:
    policy = RetryPolicy(base_delay=0.001, max_delay=0.01, budget=5)
    return evana.Client(URL, "key", retry=policy, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_the_client_retries_transient_statuses_with_the_same_event_ids(
    api: respx.MockRouter, status: int
) -> None:
    route = api.post("/v1/events")
    route.side_effect = [httpx.Response(status, json={"error": "x", "detail": "y"})] * 2 + [
        accepted
    ]
    with fast_client() as client:
        client.track("signup", "u_1")
        client.track("signup", "u_2")
        assert client.flush(5)
        assert client.metrics.retries == 2
    bodies = [call.request for call in route.calls]
    ids = [[e["event_id"] for e in _events(r)] for r in bodies]
    assert len(ids) == 3
    assert ids[0] == ids[1] == ids[2]  # a resend reuses the events' ids


def test_the_client_retries_network_errors(api: respx.MockRouter) -> None:
    route = api.post("/v1/events")
    route.side_effect = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), accepted]
    with fast_client() as client:
        client.track("signup", "u_1")
        assert client.flush(5)
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, APIError), (401, AuthenticationError), (413, PayloadTooLargeError), (422, APIError)],
)
def test_other_4xx_go_to_on_error_at_once(
    api: respx.MockRouter, status: int, error: type[Exception]
) -> None:
    route = api.post("/v1/events").respond(status, json={"error": "nope", "detail": "because"})
    errors: list[tuple[dict[str, object], Exception]] = []
    with fast_client(on_error=lambda event, exc: errors.append((event, exc))) as client:
        first = client.track("signup", "u_1")
        client.track("signup", "u_2")
        assert client.flush(5) is False
        assert client.metrics.failed == 2
    assert route.call_count == 1
    assert [e["event_id"] for e, _ in errors] == [str(first), errors[1][0]["event_id"]]
    assert all(isinstance(exc, error) and exc.status_code == status for _, exc in errors)


def test_retry_after_is_honoured_by_the_client(api: respx.MockRouter) -> None:
    route = api.post("/v1/events")
    route.side_effect = [
        httpx.Response(503, headers={"Retry-After": "0.3"}, json={"error": "unavailable"}),
        accepted,
    ]
    with fast_client() as client:
        client.track("signup", "u_1")
        started = time.monotonic()
        assert client.flush(5)
        assert time.monotonic() - started >= 0.3


def test_the_budget_ends_the_effort_and_reports_the_last_error(api: respx.MockRouter) -> None:
    route = api.post("/v1/events").respond(503, json={"error": "unavailable", "detail": "db"})
    errors: list[Exception] = []
    policy = RetryPolicy(base_delay=0.05, max_delay=0.05, budget=0.4)
    with evana.Client(URL, "key", retry=policy, on_error=lambda e, exc: errors.append(exc)) as c:
        c.track("signup", "u_1")
        started = time.monotonic()
        assert c.flush(5) is False
        assert time.monotonic() - started < 1.5
    assert 2 <= route.call_count <= 100  # jittered waits of at most 50 ms within 0.4 s
    assert isinstance(errors[0], ServiceUnavailableError)


def _events(request: httpx.Request) -> list[dict[str, object]]:
    from .conftest import batch_of

    return batch_of(request)["events"]  # type: ignore[no-any-return]
