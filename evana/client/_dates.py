"""The one place that turns what people type for a report's dates into a ``datetime.date``.

The SDK's ``client.stats`` and the CLI's ``--since``/``--until`` both call :func:`parse_date`, so
``30d`` means the same thing everywhere.
"""

from __future__ import annotations

import datetime as dt
import re

from evana.errors import ConfigurationError

__all__ = ["DateLike", "parse_date"]

#: What a report's ``since`` / ``until`` accept.
DateLike = dt.date | str

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SPAN = re.compile(r"(\d{1,5})([dw])")
_DAYS_PER_UNIT = {"d": 1, "w": 7}

ACCEPTED_FORMS = (
    "a date (datetime.date or 'YYYY-MM-DD'), 'today', 'yesterday', or a span back from "
    "today such as '30d' (the 30 days ending today) or '12w' (the 12 weeks ending today)"
)


def _today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def parse_date(value: DateLike, *, today: dt.date | None = None) -> dt.date:
    """Turn a date, ``"YYYY-MM-DD"``, ``"today"``, ``"yesterday"`` or a span into a UTC date.

    A span counts back from ``today`` (UTC unless given) and includes today, like the API's own
    30-day default: ``"30d"`` is the first day of the 30 days ending today (today - 29 days),
    ``"12w"`` the first day of the 12 weeks ending today (today - 83 days), ``"1d"`` today.
    A ``datetime`` counts as its UTC day (naive means UTC). Anything else raises
    :class:`~evana.errors.ConfigurationError` naming the accepted forms.

    >>> parse_date("2026-11-02")
    datetime.date(2026, 11, 2)
    >>> parse_date("30d", today=dt.date(2026, 11, 30))
    datetime.date(2026, 11, 1)
    >>> parse_date("2w", today=dt.date(2026, 11, 30))
    datetime.date(2026, 11, 17)
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
        count = int(span.group(1))
        if count < 1:
            raise ConfigurationError(f"a span must be at least one day or week, got {value!r}")
        days = count * _DAYS_PER_UNIT[span.group(2)]
        # At most 99999 weeks (five digits): about 1900 years, so never before year 1.
        return (today or _today_utc()) - dt.timedelta(days=days - 1)
    raise ConfigurationError(f"cannot read {value!r} as a date: expected {ACCEPTED_FORMS}")
