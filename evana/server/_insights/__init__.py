"""Insights: trends, funnels, stickiness and lifecycle over persons, with ``where`` filters."""

from ._activity import ActivityReader
from ._filters import compile_where, parse_where
from ._periods import days, days_before, next_period, period_start, periods_within
from ._service import MAX_INSIGHT_DAYS, InsightService

__all__ = [
    "MAX_INSIGHT_DAYS",
    "ActivityReader",
    "InsightService",
    "compile_where",
    "days",
    "days_before",
    "next_period",
    "parse_where",
    "period_start",
    "periods_within",
]
