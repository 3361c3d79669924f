"""When to try a request again, and how long to wait: exponential backoff, full jitter, a budget.

Only failures that a later attempt can fix are retried: the server not answering at all, a 5xx,
408 (request timeout) and 429 (rate limited). Every other 4xx would fail the same way again.
The wait before attempt n+1 is a uniform draw from [0, min(max_delay, base_delay·2ⁿ)] (AWS's
"full jitter": many clients that failed together do not come back together), raised to the
server's ``Retry-After`` when it sent one, and no attempt starts after the budget is spent.

The decisions live in :class:`Backoff` (clock and randomness injectable, so tests are exact and
instant); :func:`call` and :func:`acall` are the two ten-line loops around it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from evana.errors import APIError, ConfigurationError, EvanaError, TransportError

from ._transport import Response
from ._wire import api_error, parse_retry_after

__all__ = ["Backoff", "RetryPolicy", "acall", "call", "is_retryable"]

#: HTTP statuses worth another attempt besides every 5xx.
RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard the client tries to deliver one request.

    ``budget`` bounds the whole effort for one batch, first attempt included: after it the events
    are reported to ``on_error``. A ``Retry-After`` longer than what is left of the budget ends
    the effort at once rather than waiting for nothing.

    >>> RetryPolicy(base_delay=0.1, max_delay=2.0, budget=10.0).budget
    10.0
    """

    base_delay: float = 0.5
    max_delay: float = 30.0
    budget: float = 60.0

    def __post_init__(self) -> None:
        for name in ("base_delay", "max_delay", "budget"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"RetryPolicy.{name} must be a number >= 0, got {value!r}")


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt may succeed where this one failed.

    >>> from evana.errors import error_for_status
    >>> unavailable, invalid = error_for_status(503, None, "x"), error_for_status(422, None, "x")
    >>> is_retryable(unavailable), is_retryable(invalid)
    (True, False)
    """
    if isinstance(error, TransportError):
        return True
    if isinstance(error, APIError):
        return error.status_code >= 500 or error.status_code in RETRY_STATUSES
    return False


class Backoff:
    """The retry decisions for one request: call :meth:`delay` after each failed attempt.

    >>> b = Backoff(RetryPolicy(base_delay=1, max_delay=8, budget=60), rand=lambda: 1.0)
    >>> [b.delay(TransportError("down")) for _ in range(5)]
    [1.0, 2.0, 4.0, 8.0, 8.0]
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        deadline: Callable[[], float | None] | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._rand = rand
        self._end = clock() + policy.budget
        # A client that is shutting down lowers the deadline of the request already under way.
        self._deadline = deadline
        self.retries = 0

    def delay(self, error: BaseException, retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when it is time to give up."""
        if not is_retryable(error):
            return None
        cap = min(self._policy.max_delay, self._policy.base_delay * 2.0**self.retries)
        wait = self._rand() * cap
        if retry_after is not None:
            wait = max(wait, retry_after)
        end = self._end
        if self._deadline is not None:
            hard = self._deadline()
            if hard is not None:
                end = min(end, hard)
        if self._clock() + wait >= end:
            return None
        self.retries += 1
        return wait


#: Sleeps for the given seconds; returns True when woken early to give up (a closing client).
Sleep = Callable[[float], bool]
AsyncSleep = Callable[[float], Awaitable[bool]]


def _failure(outcome: Response | TransportError) -> tuple[EvanaError, float | None] | None:
    """(error, Retry-After) of a failed attempt; None for an answer below 400."""
    if isinstance(outcome, TransportError):
        return outcome, None
    if outcome.status_code < 400:
        return None
    return api_error(outcome), parse_retry_after(outcome.headers)


def call(send: Callable[[], Response], backoff: Backoff, sleep: Sleep) -> Response:
    """Run ``send`` until it gets a non-error answer, or the backoff or ``sleep`` says stop.

    ``send`` raises :class:`TransportError` when nothing answered; an error answer becomes its
    :mod:`evana.errors` class. The last error is raised when giving up.
    """
    while True:
        try:
            outcome: Response | TransportError = send()
        except TransportError as exc:
            outcome = exc
        failure = _failure(outcome)
        if failure is None:
            return outcome  # type: ignore[return-value]  # only a Response passes _failure
        wait = backoff.delay(*failure)
        if wait is None or sleep(wait):
            raise failure[0]


async def acall(
    send: Callable[[], Awaitable[Response]], backoff: Backoff, sleep: AsyncSleep
) -> Response:
    """The asyncio twin of :func:`call`."""
    while True:
        try:
            outcome: Response | TransportError = await send()
        except TransportError as exc:
            outcome = exc
        failure = _failure(outcome)
        if failure is None:
            return outcome  # type: ignore[return-value]
        wait = backoff.delay(*failure)
        if wait is None or await sleep(wait):
            raise failure[0]
