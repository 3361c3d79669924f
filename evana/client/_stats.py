"""``client.stats``: the read API (``GET /v1/stats/*``) as typed methods.

Each method turns its arguments into query parameters here (dates through :func:`parse_date`,
so ``since="30d"`` works) and hands them to the client's fetch function, which retries and maps
errors like every other request. ``Stats`` and ``AsyncStats`` differ only in awaiting it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Iterator, Mapping
from typing import Protocol, TypeVar

from pydantic import BaseModel

from evana.errors import ConfigurationError, TransportError
from evana.schema import ActiveUsers, Period, Retention, TopEvents

from ._config import ClientOptions
from ._dates import DateLike, parse_date
from ._retry import Backoff
from ._transport import Request

__all__ = ["AsyncStats", "ReadBound", "Stats"]

Model = TypeVar("Model", bound=BaseModel)


class Fetch(Protocol):
    """The client's ``GET path?params``, answered as ``model``."""

    def __call__(self, path: str, params: Mapping[str, str], model: type[Model]) -> Model: ...


class AsyncFetch(Protocol):
    """The async client's ``GET path?params``, answered as ``model``."""

    def __call__(
        self, path: str, params: Mapping[str, str], model: type[Model]
    ) -> Awaitable[Model]: ...


_PERIODS = ("day", "week", "month")


class _Closing(Protocol):
    """The client's shutdown deadline (``time.monotonic()``), None while it is not closing."""

    @property
    def deadline(self) -> float | None: ...


class ReadBound:
    """The deadline of one read-API call: each attempt gets what is left of ``stats_timeout``,
    no retry starts past it, and a call that runs out says so, with the URL and the bound."""

    def __init__(self, options: ClientOptions, request: Request, closing: _Closing) -> None:
        self.options = options
        self.request = request
        self.line = f"{request.method} {request.path}"
        self.end = time.monotonic() + self.options.stats_timeout

        def deadline() -> float:
            # A client that is closing may have an earlier deadline for every request.
            hard = closing.deadline
            return self.end if hard is None else min(self.end, hard)

        self.backoff = Backoff(self.options.retry, deadline=deadline)

    def attempt(self) -> Request:
        """The request for one attempt, with what is left of the bound as its timeout."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TransportError(f"{self.line}: TimeoutError: no time left")
        return dataclasses.replace(self.request, timeout=left)

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """A transport failure that ends the call names the server and the bound."""
        try:
            yield
        except TransportError as exc:
            head, _, reason = str(exc).partition(": ")
            raise TransportError(
                f"{self.line}: no answer from {self.options.url} within"
                f" {self.options.stats_timeout:g} s (stats_timeout): {reason or head}"
            ) from exc


def _span(since: DateLike | None, until: DateLike | None) -> dict[str, str]:
    params = {}
    if since is not None:
        params["since"] = parse_date(since).isoformat()
    if until is not None:
        params["until"] = parse_date(until).isoformat()
    return params


def _top(since: DateLike | None, until: DateLike | None, limit: int) -> dict[str, str]:
    return {**_span(since, until), "limit": str(limit)}


def _retention(
    since: DateLike | None,
    until: DateLike | None,
    period: Period,
    periods: int,
    start_event: str | None,
    return_event: str | None,
) -> dict[str, str]:
    if period not in _PERIODS:
        raise ConfigurationError(f"period must be one of {', '.join(_PERIODS)}, not {period!r}")
    params = {**_span(since, until), "period": period, "periods": str(periods)}
    if start_event is not None:
        params["start_event"] = start_event
    if return_event is not None:
        params["return_event"] = return_event
    return params


class Stats:
    """DAU/WAU/MAU, top events and retention, as :mod:`evana.schema` models.

    ``since``/``until`` take a date, ``"YYYY-MM-DD"``, ``"today"`` or a span back from today
    (``"30d"``, ``"12w"``); left out, the server's defaults apply (the 30 days ending today).
    Errors are :mod:`evana.errors` classes (``PermissionDeniedError`` for an ingest-only key).

    >>> from evana.client import MockTransport, Response, Client
    >>> answer = b'{"since": "2026-11-01", "until": "2026-11-01", "series": []}'
    >>> mock = MockTransport(lambda request: Response(200, {}, answer))
    >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
    ...     client.stats.dau(since="2026-11-01", until="2026-11-01").since
    datetime.date(2026, 11, 1)
    """

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def dau(self, since: DateLike | None = None, until: DateLike | None = None) -> ActiveUsers:
        """Distinct users active each day of [since, until]."""
        return self._fetch("/v1/stats/dau", _span(since, until), ActiveUsers)

    def wau(self, since: DateLike | None = None, until: DateLike | None = None) -> ActiveUsers:
        """Distinct users active in the 7 days ending each day of [since, until]."""
        return self._fetch("/v1/stats/wau", _span(since, until), ActiveUsers)

    def mau(self, since: DateLike | None = None, until: DateLike | None = None) -> ActiveUsers:
        """Distinct users active in the 30 days ending each day of [since, until]."""
        return self._fetch("/v1/stats/mau", _span(since, until), ActiveUsers)

    def top_events(
        self, since: DateLike | None = None, until: DateLike | None = None, limit: int = 10
    ) -> TopEvents:
        """Event names by number of events over [since, until], with distinct users."""
        return self._fetch("/v1/stats/top-events", _top(since, until, limit), TopEvents)

    def retention(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        period: Period = "week",
        periods: int = 8,
        start_event: str | None = None,
        return_event: str | None = None,
    ) -> Retention:
        """First-time retention cohorts by ``period`` (day, week or month)."""
        params = _retention(since, until, period, periods, start_event, return_event)
        return self._fetch("/v1/stats/retention", params, Retention)


class AsyncStats:
    """:class:`Stats` for ``AsyncClient``: the same methods, awaited."""

    def __init__(self, fetch: AsyncFetch) -> None:
        self._fetch = fetch

    async def dau(
        self, since: DateLike | None = None, until: DateLike | None = None
    ) -> ActiveUsers:
        """Distinct users active each day of [since, until]."""
        return await self._fetch("/v1/stats/dau", _span(since, until), ActiveUsers)

    async def wau(
        self, since: DateLike | None = None, until: DateLike | None = None
    ) -> ActiveUsers:
        """Distinct users active in the 7 days ending each day of [since, until]."""
        return await self._fetch("/v1/stats/wau", _span(since, until), ActiveUsers)

    async def mau(
        self, since: DateLike | None = None, until: DateLike | None = None
    ) -> ActiveUsers:
        """Distinct users active in the 30 days ending each day of [since, until]."""
        return await self._fetch("/v1/stats/mau", _span(since, until), ActiveUsers)

    async def top_events(
        self, since: DateLike | None = None, until: DateLike | None = None, limit: int = 10
    ) -> TopEvents:
        """Event names by number of events over [since, until], with distinct users."""
        params = _top(since, until, limit)
        return await self._fetch("/v1/stats/top-events", params, TopEvents)

    async def retention(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        period: Period = "week",
        periods: int = 8,
        start_event: str | None = None,
        return_event: str | None = None,
    ) -> Retention:
        """First-time retention cohorts by ``period`` (day, week or month)."""
        params = _retention(since, until, period, periods, start_event, return_event)
        return await self._fetch("/v1/stats/retention", params, Retention)
