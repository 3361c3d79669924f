"""``client.stats``: the read API (``GET /v1/stats/*``) as typed methods.

Each method turns its arguments into query parameters here (dates through :func:`parse_date`,
so ``since="30d"`` works; filters through :func:`~._filters.where_param`, checked first) and
hands them to the client's fetch function, which retries and maps errors like every other
request. ``Stats`` and ``AsyncStats`` differ only in awaiting it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Iterator, Mapping
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel

from evana.errors import ConfigurationError, TransportError
from evana.insights import Lifecycle, Stickiness
from evana.schema import ActiveUsers, Period, Retention, TopEvents

from ._config import ClientOptions
from ._dates import DateLike, parse_date
from ._filters import WhereLike, where_param
from ._retry import Backoff
from ._transport import Request

__all__ = ["AsyncFetch", "AsyncStats", "Fetch", "ReadBound", "RetentionType", "Stats"]

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
_TYPES = ("first_time", "recurring")

#: First-time retention (a cohort per person) or recurring (a cohort per period of activity).
RetentionType = Literal["first_time", "recurring"]


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


def _span(
    since: DateLike | None, until: DateLike | None, where: WhereLike | None = None
) -> dict[str, str]:
    params = {}
    if since is not None:
        params["since"] = parse_date(since).isoformat()
    if until is not None:
        params["until"] = parse_date(until).isoformat()
    return {**params, **where_param(where)}


def _top(
    since: DateLike | None, until: DateLike | None, limit: int, where: WhereLike | None
) -> dict[str, str]:
    return {**_span(since, until, where), "limit": str(limit)}


def _period(period: str) -> str:
    if period not in _PERIODS:
        raise ConfigurationError(f"period must be one of {', '.join(_PERIODS)}, not {period!r}")
    return period


def _retention(
    since: DateLike | None,
    until: DateLike | None,
    period: Period,
    periods: int,
    start_event: str | None,
    return_event: str | None,
    type: RetentionType = "first_time",
    cumulative: bool = False,
    where: WhereLike | None = None,
) -> dict[str, str]:
    _period(period)
    if type not in _TYPES:
        raise ConfigurationError(f"type must be one of {', '.join(_TYPES)}, not {type!r}")
    params = {**_span(since, until), "period": period, "periods": str(periods)}
    if start_event is not None:
        params["start_event"] = start_event
    if return_event is not None:
        params["return_event"] = return_event
    # The defaults go unsaid: a server from before these options answers the same report.
    if type != "first_time":
        params["type"] = type
    if cumulative:
        params["cumulative"] = "true"
    return {**params, **where_param(where)}


def _of_event(
    since: DateLike | None,
    until: DateLike | None,
    event: str | None,
    where: WhereLike | None,
    period: Period | None = None,
) -> dict[str, str]:
    params = _span(since, until)
    if period is not None:
        params["period"] = _period(period)
    if event is not None:
        params["event"] = event
    return {**params, **where_param(where)}


class Stats:
    """DAU/WAU/MAU, top events, retention, stickiness and lifecycle, as typed models.

    ``since``/``until`` take a date, ``"YYYY-MM-DD"``, ``"today"`` or a span back from today
    (``"30d"``, ``"12w"``); left out, the server's defaults apply (the 30 days ending today).
    ``where`` keeps only the events that match every filter (``Filter``s or mappings such as
    ``{"key": "plan", "op": "eq", "value": "pro"}``); a malformed filter raises
    ``InvalidRequestError`` before any request. Errors are :mod:`evana.errors` classes
    (``PermissionDeniedError`` for an ingest-only key).

    >>> from evana.client import MockTransport, Response, Client
    >>> answer = b'{"since": "2026-11-01", "until": "2026-11-01", "series": []}'
    >>> mock = MockTransport(lambda request: Response(200, {}, answer))
    >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
    ...     client.stats.dau(since="2026-11-01", until="2026-11-01").since
    datetime.date(2026, 11, 1)
    """

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def dau(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        where: WhereLike | None = None,
    ) -> ActiveUsers:
        """Distinct users active each day of [since, until]."""
        return self._fetch("/v1/stats/dau", _span(since, until, where), ActiveUsers)

    def wau(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        where: WhereLike | None = None,
    ) -> ActiveUsers:
        """Distinct users active in the 7 days ending each day of [since, until]."""
        return self._fetch("/v1/stats/wau", _span(since, until, where), ActiveUsers)

    def mau(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        where: WhereLike | None = None,
    ) -> ActiveUsers:
        """Distinct users active in the 30 days ending each day of [since, until]."""
        return self._fetch("/v1/stats/mau", _span(since, until, where), ActiveUsers)

    def top_events(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        limit: int = 10,
        *,
        where: WhereLike | None = None,
    ) -> TopEvents:
        """Event names by number of events over [since, until], with distinct users."""
        return self._fetch("/v1/stats/top-events", _top(since, until, limit, where), TopEvents)

    def retention(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        period: Period = "week",
        periods: int = 8,
        start_event: str | None = None,
        return_event: str | None = None,
        type: RetentionType = "first_time",
        cumulative: bool = False,
        where: WhereLike | None = None,
    ) -> Retention:
        """Retention cohorts by ``period`` (day, week or month).

        ``type="first_time"``: a person's cohort is the period of their first (start) event;
        ``"recurring"``: a person is in the cohort of every period they did it.
        ``cumulative=True`` counts a person in cell k when active in any period from k on.

        >>> from evana.client import MockTransport, Response, Client
        >>> answer = (b'{"period": "week", "since": "2026-11-02", "until": "2026-11-02",'
        ...           b' "cohorts": []}')
        >>> mock = MockTransport(lambda request: Response(200, {}, answer))
        >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
        ...     client.stats.retention("2026-11-02", type="recurring", cumulative=True).cohorts
        []
        """
        params = _retention(
            since, until, period, periods, start_event, return_event, type, cumulative, where
        )
        return self._fetch("/v1/stats/retention", params, Retention)

    def stickiness(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        event: str | None = None,
        where: WhereLike | None = None,
    ) -> Stickiness:
        """For k = 1 ... days in the range: the persons active on exactly k days of it (on
        ``event`` when given).

        >>> from evana.client import MockTransport, Response, Client
        >>> answer = (b'{"since": "2026-11-01", "until": "2026-11-02",'
        ...           b' "days": [{"days_active": 1, "users": 5}, {"days_active": 2, "users": 1}]}')
        >>> mock = MockTransport(lambda request: Response(200, {}, answer))
        >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
        ...     client.stats.stickiness("2026-11-01", "2026-11-02", event="view").days[1].users
        1
        """
        params = _of_event(since, until, event, where)
        return self._fetch("/v1/stats/stickiness", params, Stickiness)

    def lifecycle(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        period: Period = "day",
        event: str | None = None,
        where: WhereLike | None = None,
    ) -> Lifecycle:
        """Per period: new, returning, resurrecting and dormant persons (on ``event`` when
        given).

        >>> from evana.client import MockTransport, Response, Client
        >>> answer = (b'{"period": "week", "since": "2026-11-02", "until": "2026-11-08",'
        ...           b' "periods": []}')
        >>> mock = MockTransport(lambda request: Response(200, {}, answer))
        >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
        ...     client.stats.lifecycle("2026-11-02", "2026-11-08", period="week").period
        'week'
        """
        params = _of_event(since, until, event, where, period)
        return self._fetch("/v1/stats/lifecycle", params, Lifecycle)


class AsyncStats:
    """:class:`Stats` for ``AsyncClient``: the same methods, awaited."""

    def __init__(self, fetch: AsyncFetch) -> None:
        self._fetch = fetch

    async def dau(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        where: WhereLike | None = None,
    ) -> ActiveUsers:
        """Distinct users active each day of [since, until]."""
        return await self._fetch("/v1/stats/dau", _span(since, until, where), ActiveUsers)

    async def wau(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        where: WhereLike | None = None,
    ) -> ActiveUsers:
        """Distinct users active in the 7 days ending each day of [since, until]."""
        return await self._fetch("/v1/stats/wau", _span(since, until, where), ActiveUsers)

    async def mau(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        *,
        where: WhereLike | None = None,
    ) -> ActiveUsers:
        """Distinct users active in the 30 days ending each day of [since, until]."""
        return await self._fetch("/v1/stats/mau", _span(since, until, where), ActiveUsers)

    async def top_events(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        limit: int = 10,
        *,
        where: WhereLike | None = None,
    ) -> TopEvents:
        """Event names by number of events over [since, until], with distinct users."""
        params = _top(since, until, limit, where)
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
        type: RetentionType = "first_time",
        cumulative: bool = False,
        where: WhereLike | None = None,
    ) -> Retention:
        """Retention cohorts by ``period``; see :meth:`Stats.retention`."""
        params = _retention(
            since, until, period, periods, start_event, return_event, type, cumulative, where
        )
        return await self._fetch("/v1/stats/retention", params, Retention)

    async def stickiness(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        event: str | None = None,
        where: WhereLike | None = None,
    ) -> Stickiness:
        """Persons by number of days active; see :meth:`Stats.stickiness`."""
        params = _of_event(since, until, event, where)
        return await self._fetch("/v1/stats/stickiness", params, Stickiness)

    async def lifecycle(
        self,
        since: DateLike | None = None,
        until: DateLike | None = None,
        period: Period = "day",
        event: str | None = None,
        where: WhereLike | None = None,
    ) -> Lifecycle:
        """New, returning, resurrecting and dormant persons; see :meth:`Stats.lifecycle`."""
        params = _of_event(since, until, event, where, period)
        return await self._fetch("/v1/stats/lifecycle", params, Lifecycle)
