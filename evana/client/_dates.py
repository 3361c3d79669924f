"""The one place that turns what people type for a report's dates into a ``datetime.date``.

The SDK's ``client.stats``, the CLI's ``--since``/``--until`` and the HTTP API's ``since`` and
``until`` query parameters all call :func:`parse_date`, so ``30d`` or ``3m`` means the same
thing everywhere.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from evana.errors import ConfigurationError

__all__ = ["DateLike", "parse_date"]

#: What a report's ``since`` / ``until`` accept.
DateLike = dt.date | str

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SPAN = re.compile(r"(\d{1,5})([dwmy])")
_DAYS_PER_UNIT = {"d": 1, "w": 7}
_MONTHS_PER_UNIT = {"m": 1, "y": 12}
_UNITS = {"d": "day", "w": "week", "m": "month", "y": "year"}

ACCEPTED_FORMS = (
    "a date (datetime.date or 'YYYY-MM-DD'), 'today', 'yesterday', or a span back from "
    "today such as '30d' (the 30 days ending today), '12w' (12 weeks), '3m' (3 months) "
    "or '1y' (1 year)"
)


def _today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def parse_date(value: DateLike, *, today: dt.date | None = None) -> dt.date:
    """Turn a date, ``"YYYY-MM-DD"``, ``"today"``, ``"yesterday"`` or a span into a UTC date.

    A span counts back from ``today`` (UTC unless given) and includes today, like the API's own
    30-day default: ``"30d"`` is the first day of the 30 days ending today (today - 29 days),
    ``"12w"`` the first day of the 12 weeks ending today (today - 83 days), ``"1d"`` today.
    Months and years are calendar ones: ``"3m"`` is the day after the same day three months
    back (on 2026-11-30: 2026-08-31), ``"1y"`` the day after the same day a year back
    (2025-12-01); a day the shorter month lacks counts as its last (on 05-31, ``"3m"`` is 03-01).
    A ``datetime`` counts as its UTC day (naive means UTC). Anything else raises
    :class:`~evana.errors.ConfigurationError` naming the accepted forms.

    >>> parse_date("2026-11-02")
    datetime.date(2026, 11, 2)
    >>> parse_date("30d", today=dt.date(2026, 11, 30))
    datetime.date(2026, 11, 1)
    >>> parse_date("2w", today=dt.date(2026, 11, 30))
    datetime.date(2026, 11, 17)
    >>> parse_date("3m", today=dt.date(2026, 11, 30)), parse_date("1y", today=dt.date(2026, 11, 30))
    (datetime.date(2026, 8, 31), datetime.date(2025, 12, 1))
    """
    if isinstance(value, dt.datetime):
        # A datetime is a date too; its own .date() would be its local calendar day.
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ConfigurationError(
            f"cannot read {value!r} ({type(value).__name__}) as a date: expected {ACCEPTED_FORMS}"
        )
    text = value.strip().lower()
    if text in ("today", "yesterday"):
        base = today or _today_utc()
        return base if text == "today" else base - dt.timedelta(days=1)
    if _ISO_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise ConfigurationError(f"{value!r} is not a real date ({exc})") from None
    span = _SPAN.fullmatch(text)
    if span is not None:
        return _span_start(int(span.group(1)), span.group(2), today or _today_utc(), value)
    raise ConfigurationError(f"cannot read {value!r} as a date: expected {ACCEPTED_FORMS}")


def _span_start(count: int, unit: str, today: dt.date, value: str) -> dt.date:
    """The first day of the span of ``count`` units ending ``today`` (today included)."""
    if count < 1:
        raise ConfigurationError(
            f"a span must be at least one day, week, month or year, got {value!r}"
        )
    try:
        if unit in _DAYS_PER_UNIT:
            return today - dt.timedelta(days=count * _DAYS_PER_UNIT[unit] - 1)
        months = today.year * 12 + today.month - 1 - count * _MONTHS_PER_UNIT[unit]
        year, month = divmod(months, 12)
        last_day = calendar.monthrange(year, month + 1)[1] if year >= 1 else 0
        return dt.date(year, month + 1, min(today.day, last_day)) + dt.timedelta(days=1)
    except (OverflowError, ValueError):
        raise ConfigurationError(
            f"{value!r} reaches back before year 1: use fewer {_UNITS[unit]}s"
        ) from None
