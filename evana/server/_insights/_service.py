"""The insights service: trends, funnels, stickiness and lifecycle, counting persons."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence

from evana.errors import InvalidRequestError
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

from ._activity import ActivityReader
from ._funnels import funnel_columns, run_funnel
from ._lifecycle import lifecycle
from ._stickiness import stickiness
from ._trends import compute_trends, from_rollups, rollup_trends, trend_columns

__all__ = ["MAX_INSIGHT_DAYS", "InsightService"]

#: The longest range an insight may span (as the stats reports).
MAX_INSIGHT_DAYS = 3660


def _check(since: dt.date, until: dt.date) -> None:
    if since > until:
        raise InvalidRequestError(f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_INSIGHT_DAYS:
        raise InvalidRequestError(f"the range is over {MAX_INSIGHT_DAYS} days: narrow since/until")


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

    @contextlib.contextmanager
    def activity(self) -> Iterator[ActivityReader]:
        """A read transaction with the persons as of it."""
        with self.db.read() as conn:
            yield ActivityReader(conn, self.db, self.cache, self.persons.snapshot(conn))

    def trends(self, query: TrendsQuery) -> Trends:
        """``POST /v1/query/trends``."""
        _check(query.since, query.until)
        names, reads = trend_columns(query)
        with self.activity() as reader:
            if from_rollups(query):
                return rollup_trends(query, reader)
            frame = reader.frame(query.since, query.until, names, (), with_properties=reads)
        return compute_trends(query, frame)

    def funnel(self, query: FunnelQuery) -> FunnelResult:
        """``POST /v1/query/funnel``."""
        _check(query.since, query.until)
        names, reads = funnel_columns(query)
        with self.activity() as reader:
            frame = reader.frame(query.since, query.until, names, (), with_properties=reads)
        return run_funnel(query, frame)

    def stickiness(
        self, since: dt.date, until: dt.date, event: str | None, where: Sequence[Filter] = ()
    ) -> Stickiness:
        """``GET /v1/stats/stickiness``."""
        _check(since, until)
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
        _check(since, until)
        with self.activity() as reader:
            by_day = reader.by_day(event, None, until, where)
        return lifecycle(since, until, period, by_day)
