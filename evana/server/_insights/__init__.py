"""Insights: trends, funnels, stickiness and lifecycle over persons, with ``where`` filters."""

from ._activity import ActivityReader, PersonReports, read_activity
from ._filters import compile_where, parse_where
from ._periods import (
    MAX_RANGE_DAYS,
    check_range,
    days,
    days_before,
    next_period,
    period_start,
    periods_within,
)
from ._service import InsightService

__all__ = [
    "MAX_RANGE_DAYS",
    "ActivityReader",
    "InsightService",
    "PersonReports",
    "check_range",
    "compile_where",
    "days",
    "days_before",
    "next_period",
    "parse_where",
    "period_start",
    "periods_within",
    "read_activity",
]
