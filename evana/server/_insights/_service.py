"""The insights service: trends, funnels, stickiness and lifecycle, counting persons."""

from __future__ import annotations

import contextlib
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
from evana.server._storage import BitmapCache, Database, PersonDirectory

from ._activity import ActivityReader, read_activity
from ._funnels import funnel_columns, run_funnel
from ._lifecycle import lifecycle
from ._periods import check_range
from ._stickiness import stickiness
from ._trends import compute_trends, from_rollups, rollup_trends, trend_columns

__all__ = ["InsightService"]


class InsightService:
    """Answers ``/v1/query/*``, stickiness and lifecycle."""

    def __init__(
        self,
        db: Database,
        cache: BitmapCache | None = None,
        persons: PersonDirectory | None = None,
    ) -> None:
        self.db = db
        self.cache = cache if cache is not None else BitmapCache()
        self.persons = persons if persons is not None else PersonDirectory(db)

    def activity(self) -> contextlib.AbstractContextManager[ActivityReader]:
        """A read transaction with the persons as of it."""
        return read_activity(self.db, self.cache, self.persons)

    def trends(self, query: TrendsQuery) -> Trends:
        """``POST /v1/query/trends``."""
        check_range(query.since, query.until)
        names, reads = trend_columns(query)
        with self.activity() as reader:
            if from_rollups(query):
                return rollup_trends(query, reader)
            frame = reader.frame(query.since, query.until, names, (), with_properties=reads)
        return compute_trends(query, frame)

    def funnel(self, query: FunnelQuery) -> FunnelResult:
        """``POST /v1/query/funnel``."""
        check_range(query.since, query.until)
        names, reads = funnel_columns(query)
        with self.activity() as reader:
            frame = reader.frame(query.since, query.until, names, (), with_properties=reads)
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
        with self.activity() as reader:
            by_day = reader.by_day(event, None, until, where)
        return lifecycle(since, until, period, by_day)
