"""``parse_date``: the one reading of report dates, shared by the SDK and the CLI."""

from __future__ import annotations

import datetime as dt

import pytest

from evana.client import parse_date
from evana.errors import ConfigurationError

TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02", dt.date(2026, 11, 2)),
        (" 2026-11-02 ", dt.date(2026, 11, 2)),
        (dt.date(2025, 1, 31), dt.date(2025, 1, 31)),
        ("today", TODAY),
        ("TODAY", TODAY),
        ("yesterday", dt.date(2026, 11, 29)),
        ("1d", TODAY),
        ("30d", dt.date(2026, 11, 1)),  # the 30 days ending today, like the API's default
        ("1w", dt.date(2026, 11, 24)),
        ("12w", TODAY - dt.timedelta(days=83)),
        ("365D", dt.date(2025, 12, 1)),
        ("1m", dt.date(2026, 10, 31)),  # the month ending today
        ("3m", dt.date(2026, 8, 31)),
        ("12M", dt.date(2025, 12, 1)),
        ("1y", dt.date(2025, 12, 1)),
        ("2y", dt.date(2024, 12, 1)),
    ],
)
def test_accepted_forms(value: object, expected: dt.date) -> None:
    assert parse_date(value, today=TODAY) == expected  # type: ignore[arg-type]


def test_a_datetime_counts_as_its_utc_day() -> None:
    late_in_new_york = dt.datetime(2026, 11, 2, 22, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert parse_date(late_in_new_york) == dt.date(2026, 11, 3)
    assert parse_date(dt.datetime(2026, 11, 2, 23, 59)) == dt.date(2026, 11, 2)


def test_today_defaults_to_the_utc_date() -> None:
    assert parse_date("today") == dt.datetime.now(dt.UTC).date()
    assert parse_date("7d") == dt.datetime.now(dt.UTC).date() - dt.timedelta(days=6)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "30",
        "d",
        "0d",
        "0m",
        "3mo",
        "1h",
        "-3d",
        "2026-13-01",
        "2026-02-30",
        "02/11/2026",
        "20261102",
        "2026-W01",
        "next week",
        20261102,
        None,
        "123456d",
        "99999y",
        "30000m",
    ],
)
def test_bad_values_name_the_accepted_forms(value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_date(value, today=TODAY)  # type: ignore[arg-type]
    message = str(caught.value)
    assert repr(value) in message
    if not any(why in message for why in ("real date", "at least one", "before year 1")):
        for form in ("'YYYY-MM-DD'", "'30d'", "'12w'", "'today'"):
            assert form in message


@pytest.mark.parametrize(
    ("today", "value", "expected"),
    [
        ("2026-05-31", "3m", "2026-03-01"),  # 02-31 does not exist: the span starts after 02-28
        ("2026-03-31", "1m", "2026-03-01"),
        ("2024-02-29", "1y", "2023-03-01"),
        ("2026-01-15", "1m", "2025-12-16"),
        ("2026-11-30", "12m", "2025-12-01"),  # 12m is 1y
    ],
)
def test_months_and_years_are_calendar_ones(today: str, value: str, expected: str) -> None:
    assert parse_date(value, today=dt.date.fromisoformat(today)) == dt.date.fromisoformat(expected)
