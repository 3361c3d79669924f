"""A per-key rate limit: one token bucket per API key, in this process.

Each key may make ``rate`` requests per second on average and ``burst`` at once. A request over
the limit is refused before any work with :class:`~evana.errors.RateLimitedError` (429), whose
``Retry-After`` says when the bucket will hold a token again; the SDK waits that long before it
retries, so a throttled client slows down instead of losing events.

The buckets live in the API process: N API replicas (or ``uvicorn --workers N``) admit N times
the limit in total. That is deliberate. A limit shared across replicas needs a round trip to a
shared store on every request, and the limit's purpose here — keeping one leaked or runaway key
from monopolizing a replica — is served per replica. docs/security.md says so.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from evana.errors import RateLimitedError

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by key id: ``rate`` tokens a second, at most ``burst`` saved up.

    >>> now = [0.0]
    >>> limiter = RateLimiter(rate=2, burst=2, clock=lambda: now[0])
    >>> limiter.wait("k1"), limiter.wait("k1"), limiter.wait("k1")
    (0.0, 0.0, 0.5)
    >>> now[0] = 0.5; limiter.wait("k1")
    0.0
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not (math.isfinite(rate) and rate > 0) or burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        # Sync dependencies run on the threadpool, so buckets are shared between threads. The
        # lock is held for a few arithmetic operations only.
        self._lock = threading.Lock()
        # One bucket per key that has made a request; keys are rows of the database, not
        # anything a caller can invent, so this stays as small as the key table.
        self._buckets: dict[str, _Bucket] = {}
        self._reported: dict[str, float] = {}  # when a key's refusal was last logged

    def wait(self, key_id: str) -> float:
        """Take a token for ``key_id``: 0.0 when there was one, else the seconds until there is.

        A refused request takes nothing, so a client that waits the answer gets through.
        """
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = _Bucket(float(self.burst), now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def report_due(self, key_id: str, every: float = 60.0) -> bool:
        """Whether to log a refusal of ``key_id`` now: at most once per ``every`` seconds a key.

        >>> limiter = RateLimiter(rate=1, burst=1, clock=lambda: 0.0)
        >>> limiter.report_due("k1"), limiter.report_due("k1"), limiter.report_due("k2")
        (True, False, True)
        """
        with self._lock:
            now = self._clock()
            last = self._reported.get(key_id)
            if last is not None and now - last < every:
                return False
            self._reported[key_id] = now
            return True

    def check(self, key_id: str) -> None:
        """Take a token for ``key_id`` or raise :class:`RateLimitedError` (429, Retry-After).

        >>> limiter = RateLimiter(rate=1, burst=1)
        >>> limiter.check("k1")
        >>> limiter.check("k1")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        evana.errors.RateLimitedError: 429 rate_limited: this API key is over its rate limit...
        """
        wait = self.wait(key_id)
        if wait > 0:
            raise RateLimitedError(
                f"this API key is over its rate limit of {self.rate:g} requests per second"
                f" (burst {self.burst}); retry after {math.ceil(wait)} s",
                # Retry-After is whole seconds; rounding up never sends a client back too early.
                retry_after=float(math.ceil(wait)),
            )
