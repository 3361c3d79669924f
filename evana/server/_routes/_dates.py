"""The ``since``/``until`` query parameters of every report, read by the one date parser.

The HTTP API, the SDK (``client.stats``) and the CLI (``--since``) take the same forms because
all three call :func:`evana.client.parse_date`; a route declares its dates with :data:`Since`
and :data:`Until` and turns them into a range with :func:`day_range`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Query

from evana.client import parse_date
from evana.errors import ConfigurationError, InvalidRequestError
from evana.server._analytics import days_before

__all__ = ["DATE_QUERY", "FORMS", "Since", "Until", "day_range", "parse_day", "today"]

#: The accepted forms, as the OpenAPI descriptions say them.
FORMS = (
    "YYYY-MM-DD, `today`, `yesterday`, or a span back from today (UTC) that includes today:"
    " `30d` (days), `12w` (weeks), `3m` (calendar months), `1y` (years)"
)
#: Query constraints shared by every date parameter.
DATE_QUERY: dict[str, Any] = {
    "min_length": 1,
    "max_length": 32,
    "examples": ["2026-11-02", "30d", "3m"],
}
Since = Annotated[
    str | None,
    Query(description=f"First day, inclusive: {FORMS}; default: 30 days back", **DATE_QUERY),
]
Until = Annotated[
    str | None, Query(description=f"Last day, inclusive: {FORMS}; default: today", **DATE_QUERY)
]


def today() -> dt.date:
    """The UTC day now: what ``today`` and the spans count back from."""
    return dt.datetime.now(dt.UTC).date()


def parse_day(name: str, value: str | None) -> dt.date | None:
    """A ``since``/``until`` parameter as a UTC date (None when absent); 422 naming the forms.

    >>> parse_day("since", "2026-11-02")
    datetime.date(2026, 11, 2)
    """
    if value is None:
        return None
    try:
        return parse_date(value)
    except ConfigurationError as exc:
        raise InvalidRequestError(f"{name}: {exc}") from None


def day_range(since: str | None, until: str | None) -> tuple[dt.date, dt.date]:
    """[since, until] as dates; ``until`` defaults to today, ``since`` to 29 days before it."""
    last = parse_day("until", until) or today()
    return parse_day("since", since) or days_before(last, 29), last
