"""Brute-force analytics written straight from DESIGN.md's definitions, to check evana against.

Deliberately naive: Python sets over every event, no rollups, no bitmaps.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Ev:
    """An event as the reference sees it."""

    event: str
    user_id: str
    timestamp: dt.datetime

    @property
    def day(self) -> dt.date:
        return self.timestamp.astimezone(dt.UTC).date()


def _days(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]


def active(events: Iterable[Ev], since: dt.date, until: dt.date, window: int) -> dict[str, Any]:
    events = list(events)
    series = []
    for d in _days(since, until):
        lo = d - dt.timedelta(days=window - 1)
        users = {e.user_id for e in events if lo <= e.day <= d}
        series.append({"date": d.isoformat(), "users": len(users)})
    return {"since": since.isoformat(), "until": until.isoformat(), "series": series}


def top(events: Iterable[Ev], since: dt.date, until: dt.date, limit: int) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    users: defaultdict[str, set[str]] = defaultdict(set)
    for e in events:
        if since <= e.day <= until:
            counts[e.event] += 1
            users[e.event].add(e.user_id)
    ranked = sorted(counts, key=lambda n: (-counts[n], n))[:limit]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "events": [{"event": n, "count": counts[n], "users": len(users[n])} for n in ranked],
    }


def period_of(d: dt.date, period: str) -> dt.date:
    if period == "day":
        return d
    if period == "week":
        return d - dt.timedelta(days=d.weekday())
    return d.replace(day=1)


def add_periods(p: dt.date, period: str, k: int) -> dt.date:
    if period == "day":
        return p + dt.timedelta(days=k)
    if period == "week":
        return p + dt.timedelta(weeks=k)
    month = p.month - 1 + k
    return p.replace(year=p.year + month // 12, month=month % 12 + 1)


def retention(
    events: Iterable[Ev],
    since: dt.date,
    until: dt.date,
    period: str,
    periods: int,
    start_event: str | None = None,
    return_event: str | None = None,
) -> dict[str, Any]:
    counted = [e for e in events if e.day <= until]  # only events on or before until count
    first: dict[str, dt.date] = {}
    for e in counted:
        if start_event is None or e.event == start_event:
            if e.user_id not in first or e.day < first[e.user_id]:
                first[e.user_id] = e.day
    cohort_of = {u: period_of(d, period) for u, d in first.items()}
    # Cohorts whose period starts within [since, until].
    starts = sorted({p for d in _days(since, until) if (p := period_of(d, period)) >= since})
    cohorts = []
    for start in starts:
        members = {u for u, c in cohort_of.items() if c == start}
        retained: list[int | None] = []
        for k in range(periods):
            p = add_periods(start, period, k)
            if p > until:
                retained.append(None)
                continue
            back = {
                e.user_id
                for e in counted
                if e.user_id in members
                and period_of(e.day, period) == p
                and (return_event is None or e.event == return_event)
            }
            retained.append(len(back))
        cohorts.append({"cohort": start.isoformat(), "size": len(members), "retained": retained})
    return {
        "period": period,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "cohorts": cohorts,
    }
