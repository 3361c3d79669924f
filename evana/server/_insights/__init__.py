"""Insights: trends, funnels, stickiness and lifecycle over persons, with ``where`` filters."""

from ._filters import compile_where, parse_where
from ._service import MAX_INSIGHT_DAYS, InsightService

__all__ = ["MAX_INSIGHT_DAYS", "InsightService", "compile_where", "parse_where"]
