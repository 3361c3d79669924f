"""The insights service: trends, funnels, stickiness and lifecycle, counting persons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from evana.insights import (
    Filter,
    FunnelQuery,
    FunnelResult,
    Lifecycle,
    Stickiness,
    Trends,
    TrendsQuery,
)
from evana.schema import Period

from ._activity import PersonReports
from ._by_property import number_trends, property_trends
from ._filters import wanted_rows
from ._funnels import funnel_columns, run_funnel
from ._lifecycle import history_needed, lifecycle
from ._periods import check_range
from ._stickiness import stickiness
from ._trends import compute_trends, from_rollups, rollup_trends, trend_columns

__all__ = ["InsightService"]


class InsightService(PersonReports):
    """Answers ``/v1/query/*``, stickiness and lifecycle."""

    def trends(self, query: TrendsQuery) -> Trends:
        """``POST /v1/query/trends``."""
        check_range(query.since, query.until)
        names, reads = trend_columns(query)
        with self.activity() as reader:
            if from_rollups(query):
                return rollup_trends(query, reader)
            found = property_trends(query, reader) or number_trends(query, reader)
            if found is not None:
                return found
            wanted = wanted_rows((s.event, s.where) for s in query.series)
            frame = reader.frame(
                query.since, query.until, names, (), with_properties=reads, wanted=wanted
            )
        return compute_trends(query, frame)

    def funnel(self, query: FunnelQuery) -> FunnelResult:
        """``POST /v1/query/funnel``."""
        check_range(query.since, query.until)
        names, reads = funnel_columns(query)
        with self.activity() as reader:
            # Steps that read no event property need only who did what when: event times.
            frame = None if reads else reader.times_frame(query.since, query.until, names)
            if frame is None:
                wanted = wanted_rows((step.event, step.where) for step in query.steps)
                frame = reader.frame(
                    query.since, query.until, names, (), with_properties=reads, wanted=wanted
                )
        return run_funnel(query, frame)

    def stickiness(
        self, since: dt.date, until: dt.date, event: str | None, where: Sequence[Filter] = ()
    ) -> Stickiness:
        """``GET /v1/stats/stickiness``."""
        check_range(since, until)
        with self.activity() as reader:
            by_day = reader.by_day(event, since, until, where)
        return stickiness(since, until, by_day)

    def lifecycle(
        self,
        since: dt.date,
        until: dt.date,
        period: Period,
        event: str | None,
        where: Sequence[Filter] = (),
    ) -> Lifecycle:
        """``GET /v1/stats/lifecycle``; history before ``since`` decides who is new."""
        check_range(since, until)
        first, needed = history_needed(since, until, period)
        with self.activity() as reader:
            if where:
                # Filtered, who is new needs every earlier day read anyway: one read of all.
                every = reader.by_day(event, None, until, where)
                by_day = {day: users for day, users in every.items() if day >= needed}
                seen = [users for day, users in every.items() if day < first]
            else:
                by_day = reader.by_day(event, needed, until, where)
                seen = reader.seen_before(event, first)
        return lifecycle(since, until, period, by_day, seen)
