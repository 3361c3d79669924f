"""``client.query``: trends and funnels (``POST /v1/query/*``) as typed methods.

The arguments become the :class:`~evana.insights.TrendsQuery` or
:class:`~evana.insights.FunnelQuery` the server validates with, here, before anything is sent:
a query the server would refuse with 422 raises :class:`~evana.errors.InvalidRequestError`
without a request. Dates take every form of ``client.stats`` (``"30d"``, ``"2026-11-02"``, a
``date``) and go out as dates. ``Query`` and ``AsyncQuery`` differ only in awaiting.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

from pydantic import BaseModel

from evana.errors import InvalidRequestError
from evana.insights import (
    FunnelQuery,
    FunnelResult,
    FunnelStep,
    FunnelWindow,
    Math,
    Trends,
    TrendSeries,
    TrendsQuery,
)
from evana.schema import Period

from ._dates import DateLike, parse_date
from ._filters import WhereLike, validated, where_filters

__all__ = [
    "AsyncQuery",
    "Query",
    "SeriesLike",
    "StepLike",
    "WindowLike",
    "funnel_body",
    "parse_window",
    "trends_body",
]

Model = TypeVar("Model", bound=BaseModel)

#: One trend series: an event name, None (every event), a ``TrendSeries`` or its mapping.
SeriesLike: TypeAlias = str | TrendSeries | Mapping[str, Any] | None
#: One funnel step: an event name, a ``FunnelStep`` or its mapping.
StepLike: TypeAlias = str | FunnelStep | Mapping[str, Any]
#: A funnel window: ``"14d"``, ``"12h"``, ``"30m"``, a ``timedelta`` or a ``FunnelWindow``.
WindowLike: TypeAlias = str | dt.timedelta | FunnelWindow | Mapping[str, Any]

TRENDS_PATH = "/v1/query/trends"
FUNNEL_PATH = "/v1/query/funnel"

_WINDOW = re.compile(r"(\d{1,9})\s*(m|min|mins|minutes?|h|hours?|d|days?)")
_UNITS: dict[str, Literal["minute", "hour", "day"]] = {"m": "minute", "h": "hour", "d": "day"}


class Post(Protocol):
    """The client's ``POST path`` of a JSON ``body``, answered as ``model``."""

    def __call__(self, path: str, body: Mapping[str, Any], model: type[Model]) -> Model: ...


class AsyncPost(Protocol):
    """The async client's ``POST path`` of a JSON ``body``, answered as ``model``."""

    def __call__(
        self, path: str, body: Mapping[str, Any], model: type[Model]
    ) -> Awaitable[Model]: ...


def _bad(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, error="invalid_request")


def parse_window(window: WindowLike) -> FunnelWindow:
    """A funnel window from ``"14d"``, ``"12h"``, ``"30m"`` (also ``"2 days"``), a ``timedelta``
    (in its largest whole unit) or a ``FunnelWindow``; over 365 days or malformed: 422.

    >>> parse_window("12h")
    FunnelWindow(value=12, unit='hour')
    >>> parse_window(dt.timedelta(days=2))
    FunnelWindow(value=2, unit='day')
    >>> parse_window(dt.timedelta(minutes=90))
    FunnelWindow(value=90, unit='minute')
    """
    if isinstance(window, FunnelWindow):
        return window
    if isinstance(window, Mapping):
        return validated(FunnelWindow, window, "window")
    if isinstance(window, dt.timedelta):
        seconds = window.total_seconds()
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds >= size and seconds % size == 0:
                value = {"value": int(seconds // size), "unit": unit}
                return validated(FunnelWindow, value, "window")
        raise _bad(f"window: {window} is not a whole number of minutes (at least 1)")
    if isinstance(window, str):
        match = _WINDOW.fullmatch(window.strip().lower())
        if match is not None:
            unit = _UNITS[match.group(2)[0]]
            return validated(FunnelWindow, {"value": int(match.group(1)), "unit": unit}, "window")
    raise _bad(f"window: cannot read {window!r}; use a number and a unit: 30m, 12h or 14d")


def _series(
    series: SeriesLike | Sequence[SeriesLike],
    math: Math | None,
    property: str | None,
    where: WhereLike | None,
) -> list[Any]:
    items: Sequence[Any] = (
        [series] if series is None or isinstance(series, str | TrendSeries | Mapping) else series
    )
    if isinstance(items, bytes) or not isinstance(items, Sequence):
        raise _bad(f"series: expected event names or series, not {type(series).__name__}")
    named: dict[str, Any] = {}
    if math is not None:
        named["math"] = math
    if property is not None:
        named["property"] = property
    filters = where_filters(where)
    if filters:
        named["where"] = filters
    built: list[Any] = []
    for item in items:
        if item is None or isinstance(item, str):
            # A bare name takes the call's math, property and where.
            built.append({"event": item, **named})
        elif isinstance(item, TrendSeries | Mapping):
            built.append(item)
        else:
            raise _bad(f"series: expected an event name or a series, not {type(item).__name__}")
    return built


def trends_body(
    series: SeriesLike | Sequence[SeriesLike],
    since: DateLike,
    until: DateLike,
    *,
    interval: Period = "day",
    math: Math | None = None,
    property: str | None = None,
    where: WhereLike | None = None,
    breakdown: str | None = None,
    breakdown_limit: int = 10,
) -> dict[str, Any]:
    """The checked JSON body of ``POST /v1/query/trends`` (see :meth:`Query.trends`).

    >>> body = trends_body("purchase", "2026-11-01", "2026-11-30", math="sum", property="amount")
    >>> body["series"][0]["math"], body["since"]
    ('sum', '2026-11-01')
    """
    query = validated(
        TrendsQuery,
        {
            "since": parse_date(since),
            "until": parse_date(until),
            "interval": interval,
            "series": _series(series, math, property, where),
            "breakdown": breakdown,
            "breakdown_limit": breakdown_limit,
        },
    )
    return query.model_dump(mode="json")


def _steps(steps: Sequence[StepLike]) -> list[Any]:
    if isinstance(steps, str | bytes | Mapping) or not isinstance(steps, Sequence):
        raise _bad("steps: expected a list of 2 to 10 steps (event names or steps)")
    built: list[Any] = []
    for item in steps:
        if isinstance(item, str):
            built.append({"event": item})
        elif isinstance(item, FunnelStep | Mapping):
            built.append(item)
        else:
            raise _bad(f"steps: expected an event name or a step, not {type(item).__name__}")
    return built


def funnel_body(
    steps: Sequence[StepLike],
    since: DateLike,
    until: DateLike,
    *,
    window: WindowLike = "14d",
    order: Literal["ordered", "any"] = "ordered",
) -> dict[str, Any]:
    """The checked JSON body of ``POST /v1/query/funnel`` (see :meth:`Query.funnel`).

    >>> funnel_body(["signup", "purchase"], "2026-11-01", "2026-11-30", window="2d")["window"]
    {'value': 2, 'unit': 'day'}
    """
    query = validated(
        FunnelQuery,
        {
            "since": parse_date(since),
            "until": parse_date(until),
            "steps": _steps(steps),
            "window": parse_window(window),
            "order": order,
        },
    )
    return query.model_dump(mode="json")


class Query:
    """Trends and funnels over [since, until], as :mod:`evana.insights` models.

    Arguments are checked before sending: a query the server would refuse raises
    :class:`~evana.errors.InvalidRequestError` at once; a date in none of the accepted forms
    raises :class:`~evana.errors.ConfigurationError`, as in ``client.stats``.

    >>> from evana.client import MockTransport, Response, Client
    >>> answer = (b'{"steps": [{"event": "a", "users": 2, "conversion": 1.0,'
    ...           b' "median_seconds": null}]}')
    >>> mock = MockTransport(lambda request: Response(200, {}, answer))
    >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
    ...     client.query.funnel(["a", "b"], since="2026-11-01").steps[0].users
    2
    """

    def __init__(self, post: Post) -> None:
        self._post = post

    def trends(
        self,
        series: SeriesLike | Sequence[SeriesLike],
        since: DateLike = "30d",
        until: DateLike = "today",
        *,
        interval: Period = "day",
        math: Math | None = None,
        property: str | None = None,
        where: WhereLike | None = None,
        breakdown: str | None = None,
        breakdown_limit: int = 10,
    ) -> Trends:
        """A value per interval (day, week or month) for each series, and its total.

        ``series`` is an event name (None: every event), a ``TrendSeries`` or a mapping like
        ``{"event": "purchase", "math": "sum", "property": "amount"}``, or a list of up to 10
        of them. ``math``, ``property`` and ``where`` apply to the series given by name.
        ``breakdown`` splits each series by an event property (``person.<name>``: a person's),
        keeping the ``breakdown_limit`` largest values and ``"$other"``.

        >>> from evana.client import MockTransport, Response, Client
        >>> answer = (b'{"interval": "day", "since": "2026-11-01", "until": "2026-11-01",'
        ...     b' "results": [{"series": 0, "event": "purchase", "math": "sum",'
        ...     b' "points": [{"date": "2026-11-01", "value": 19.8}], "total": 19.8}]}')
        >>> mock = MockTransport(lambda request: Response(200, {}, answer))
        >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
        ...     trend = client.query.trends("purchase", "2026-11-01", "2026-11-01",
        ...                                 math="sum", property="amount")
        >>> trend.results[0].total
        19.8
        """
        body = trends_body(
            series,
            since,
            until,
            interval=interval,
            math=math,
            property=property,
            where=where,
            breakdown=breakdown,
            breakdown_limit=breakdown_limit,
        )
        return self._post(TRENDS_PATH, body, Trends)

    def funnel(
        self,
        steps: Sequence[StepLike],
        since: DateLike = "30d",
        until: DateLike = "today",
        *,
        window: WindowLike = "14d",
        order: Literal["ordered", "any"] = "ordered",
    ) -> FunnelResult:
        """How many persons went through 2 to 10 steps, each within ``window`` of entering.

        ``steps`` are event names, ``FunnelStep``s or mappings (``{"event": "signup",
        "where": [...]}``); ``window`` is ``"30m"``, ``"12h"``, ``"14d"`` or a ``timedelta``
        (at most 365 days); ``order="any"`` counts the steps in any order.

        >>> from evana.client import MockTransport, Response, Client
        >>> answer = b'{"steps": []}'
        >>> mock = MockTransport(lambda request: Response(200, {}, answer))
        >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
        ...     client.query.funnel(["signup", "purchase"], "7d", window="1d").steps
        []
        """
        body = funnel_body(steps, since, until, window=window, order=order)
        return self._post(FUNNEL_PATH, body, FunnelResult)


class AsyncQuery:
    """:class:`Query` for ``AsyncClient``: the same methods, awaited."""

    def __init__(self, post: AsyncPost) -> None:
        self._post = post

    async def trends(
        self,
        series: SeriesLike | Sequence[SeriesLike],
        since: DateLike = "30d",
        until: DateLike = "today",
        *,
        interval: Period = "day",
        math: Math | None = None,
        property: str | None = None,
        where: WhereLike | None = None,
        breakdown: str | None = None,
        breakdown_limit: int = 10,
    ) -> Trends:
        """A value per interval for each series; see :meth:`Query.trends`."""
        body = trends_body(
            series,
            since,
            until,
            interval=interval,
            math=math,
            property=property,
            where=where,
            breakdown=breakdown,
            breakdown_limit=breakdown_limit,
        )
        return await self._post(TRENDS_PATH, body, Trends)

    async def funnel(
        self,
        steps: Sequence[StepLike],
        since: DateLike = "30d",
        until: DateLike = "today",
        *,
        window: WindowLike = "14d",
        order: Literal["ordered", "any"] = "ordered",
    ) -> FunnelResult:
        """How many persons went through the steps; see :meth:`Query.funnel`."""
        body = funnel_body(steps, since, until, window=window, order=order)
        return await self._post(FUNNEL_PATH, body, FunnelResult)
