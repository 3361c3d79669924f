"""The insight definitions of DESIGN.md, written the plain way over a list of events.

Nothing here shares code with the server: events are tuples, persons a dict, every count a
loop over the events. Tests compare the API's answers against these.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

PERSON_OPS = {"$identify", "$create_alias", "$set", "$groupidentify"}


@dataclass(frozen=True)
class Ev:
    event: str
    user: str
    ts: dt.datetime  # aware
    props: dict[str, Any] | None = None

    @property
    def day(self) -> dt.date:
        return self.ts.astimezone(dt.UTC).date()


@dataclass
class World:
    """The events, and who is whom: ``person`` maps a user id to its person (default itself)."""

    events: list[Ev]
    person: dict[str, str] = field(default_factory=dict)
    person_props: dict[str, dict[str, Any]] = field(default_factory=dict)

    def who(self, user: str) -> str:
        return self.person.get(user, user)

    def activity(self) -> list[Ev]:
        return [e for e in self.events if e.event not in PERSON_OPS]


# --- filters -------------------------------------------------------------------------------


def is_num(v: Any) -> bool:
    return type(v) in (int, float)


def same(a: Any, b: Any) -> bool:
    if is_num(a) or is_num(b):
        return is_num(a) and is_num(b) and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def read(world: World, e: Ev, key: str) -> Any:
    if key.startswith("person."):
        return world.person_props.get(world.who(e.user), {}).get(key[len("person.") :])
    return (e.props or {}).get(key)


def holds(world: World, e: Ev, f: dict[str, Any]) -> bool:
    v = read(world, e, f["key"])
    op, w = f["op"], f.get("value")
    if op == "is_set":
        return v is not None
    if op == "is_not_set":
        return v is None
    if v is None:
        return op in ("neq", "not_in")
    if op == "eq":
        return same(v, w)
    if op == "neq":
        return not same(v, w)
    if op == "in":
        return any(same(v, x) for x in w)
    if op == "not_in":
        return not any(same(v, x) for x in w)
    if op == "contains":
        return isinstance(v, str) and w in v
    if not is_num(v):
        return False
    return {"gt": v > w, "gte": v >= w, "lt": v < w, "lte": v <= w}[op]


def matches(world: World, e: Ev, event: str | None, where: list[dict[str, Any]]) -> bool:
    return (event is None or e.event == event) and all(holds(world, e, f) for f in where)


# --- periods ---------------------------------------------------------------------------------


def start_of(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return dt.date(day.year, day.month, 1)


def after(start: dt.date, period: str) -> dt.date:
    if period == "day":
        return start + dt.timedelta(days=1)
    if period == "week":
        return start + dt.timedelta(days=7)
    return dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)


def each_day(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]


# --- trends ----------------------------------------------------------------------------------


def text(v: Any) -> str | None:
    if v is None:
        return None
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)

    def plain(x: Any) -> Any:
        if isinstance(x, float) and x.is_integer():
            return int(x)
        if isinstance(x, list):
            return [plain(y) for y in x]
        if isinstance(x, dict):
            return {k: plain(y) for k, y in x.items()}
        return x

    return json.dumps(plain(v), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute(world: World, math_: str, prop: str | None, evs: list[Ev]) -> Any:
    if math_ == "total":
        return len(evs)
    if math_ == "users":
        return len({world.who(e.user) for e in evs})
    nums = [read(world, e, prop) for e in evs]  # type: ignore[arg-type]
    nums = [n for n in nums if is_num(n)]
    if math_ == "sum":
        return sum(nums)
    if not nums:
        return None
    if math_ == "avg":
        return sum(nums) / len(nums)
    if math_ == "min":
        return min(nums)
    if math_ == "max":
        return max(nums)
    p = {"median": 50, "p90": 90, "p95": 95, "p99": 99}[math_]
    ordered = sorted(nums)
    rank = math.ceil(p * len(ordered) / 100)
    return ordered[rank - 1]


def trends(world: World, q: dict[str, Any]) -> dict[str, Any]:
    since, until = dt.date.fromisoformat(q["since"]), dt.date.fromisoformat(q["until"])
    interval = q.get("interval", "day")
    starts = []
    s = start_of(since, interval)
    while s <= until:
        starts.append(s)
        s = after(s, interval)
    breakdown, limit = q.get("breakdown"), q.get("breakdown_limit", 10)
    results = []
    for n, series in enumerate(q["series"]):
        m, prop = series.get("math", "total"), series.get("property")
        evs = [
            e
            for e in world.activity()
            if since <= e.day <= until
            and matches(world, e, series.get("event"), series.get("where", []))
        ]

        def result(label: Any, group: list[Ev], n=n, series=series, m=m, prop=prop) -> dict:
            points = [
                {
                    "date": st.isoformat(),
                    "value": compute(
                        world, m, prop, [e for e in group if start_of(e.day, interval) == st]
                    ),
                }
                for st in starts
            ]
            return {
                "series": n,
                "event": series.get("event"),
                "math": m,
                "breakdown": label,
                "points": points,
                "total": compute(world, m, prop, group),
            }

        if breakdown is None:
            results.append(result(None, evs))
            continue
        groups: dict[Any, list[Ev]] = defaultdict(list)
        for e in evs:
            groups[text(read(world, e, breakdown))].append(e)
        totals = {label: compute(world, m, prop, group) for label, group in groups.items()}

        def order(label: Any, totals=totals) -> tuple:
            t = totals[label]
            return (t is None, -(t or 0), label is None, label or "")

        labels = sorted(groups, key=order)
        for label in labels[:limit]:
            results.append(result(label, groups[label]))
        rest = [e for label in labels[limit:] for e in groups[label]]
        if rest:
            results.append(result("$other", rest))
    return {"interval": interval, "since": q["since"], "until": q["until"], "results": results}


# --- reports over days of activity ------------------------------------------------------------


def active_days(
    world: World, event: str | None, where: list[dict[str, Any]], until: dt.date
) -> dict[str, set[dt.date]]:
    """person → the days it did a matching event, up to until."""
    out: dict[str, set[dt.date]] = defaultdict(set)
    for e in world.activity():
        if e.day <= until and matches(world, e, event, where):
            out[world.who(e.user)].add(e.day)
    return out


def stickiness(world: World, since: dt.date, until: dt.date, event=None, where=()) -> dict:
    days = active_days(world, event, list(where), until)
    span = (until - since).days + 1
    counts = [sum(1 for d in ds if since <= d) for ds in days.values()]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "days": [{"days_active": k, "users": counts.count(k)} for k in range(1, span + 1)],
    }


def lifecycle(world: World, since: dt.date, until: dt.date, period: str, event=None, where=()):
    days = active_days(world, event, list(where), until)
    periods = []
    s = start_of(since, period)
    if s < since:
        s = after(s, period)
    while s <= until:
        prev = start_of(s - dt.timedelta(days=1), period)
        new = returning = resurrecting = dormant = 0
        for ds in days.values():
            now = any(start_of(d, period) == s for d in ds)
            before = any(start_of(d, period) == prev for d in ds)
            first = start_of(min(ds), period)
            if now and first == s:
                new += 1
            elif now and before:
                returning += 1
            elif now:
                resurrecting += 1
            if before and not now:
                dormant += 1
        periods.append(
            {
                "date": s.isoformat(),
                "new": new,
                "returning": returning,
                "resurrecting": resurrecting,
                "dormant": dormant,
            }
        )
        s = after(s, period)
    return {
        "period": period,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "periods": periods,
    }


def active(world: World, since: dt.date, until: dt.date, window: int, where=()) -> dict:
    days = active_days(world, None, list(where), until)
    series = []
    for d in each_day(since, until):
        lo = d - dt.timedelta(days=window - 1)
        series.append(
            {
                "date": d.isoformat(),
                "users": sum(any(lo <= x <= d for x in ds) for ds in days.values()),
            }
        )
    return {"since": since.isoformat(), "until": until.isoformat(), "series": series}


def top(world: World, since: dt.date, until: dt.date, limit: int, where=()) -> dict:
    count: dict[str, int] = defaultdict(int)
    users: dict[str, set[str]] = defaultdict(set)
    for e in world.activity():
        if since <= e.day <= until and matches(world, e, None, list(where)):
            count[e.event] += 1
            users[e.event].add(world.who(e.user))
    names = sorted(count, key=lambda n: (-count[n], n))[:limit]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "events": [{"event": n, "count": count[n], "users": len(users[n])} for n in names],
    }


def retention(
    world: World,
    since: dt.date,
    until: dt.date,
    period: str,
    periods: int,
    start_event: str | None = None,
    return_event: str | None = None,
    kind: str = "first_time",
    cumulative: bool = False,
    where=(),
) -> dict:
    starts = []
    s = start_of(since, period)
    if s < since:
        s = after(s, period)
    while s <= until:
        starts.append(s)
        s = after(s, period)
    did_start = active_days(world, start_event, list(where), until)
    did_return = active_days(world, return_event, list(where), until)
    start_periods = {p: {start_of(d, period) for d in ds} for p, ds in did_start.items()}
    return_periods = {p: {start_of(d, period) for d in ds} for p, ds in did_return.items()}
    cohorts = []
    for i, c in enumerate(starts):
        if kind == "first_time":
            members = {p for p, ps in start_periods.items() if min(ps) == c}
        else:
            members = {p for p, ps in start_periods.items() if c in ps}
        retained: list[int | None] = []
        for k in range(periods):
            if i + k >= len(starts):
                retained.append(None)
                continue
            wanted = set(starts[i + k :]) if cumulative else {starts[i + k]}
            retained.append(sum(1 for p in members if return_periods.get(p, set()) & wanted))
        cohorts.append({"cohort": c.isoformat(), "size": len(members), "retained": retained})
    return {
        "period": period,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "cohorts": cohorts,
    }


# --- funnels ---------------------------------------------------------------------------------


def _lower_median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def funnel(world: World, q: dict[str, Any]) -> dict[str, Any]:  # noqa: C901
    """DESIGN.md's funnel, by brute force over each person's events of [since, until]."""
    since, until = dt.date.fromisoformat(q["since"]), dt.date.fromisoformat(q["until"])
    steps = q["steps"]
    window = q.get("window", {"value": 14, "unit": "day"})
    span = dt.timedelta(
        seconds=window["value"]
        * {"minute": 60, "hour": 3600, "day": 86400}[window.get("unit", "day")]
    )
    order = q.get("order", "ordered")
    by_person: dict[str, list[tuple[dt.datetime, set[int]]]] = defaultdict(list)
    for e in world.activity():
        if not since <= e.day <= until:
            continue
        fits = {k for k, s in enumerate(steps) if matches(world, e, s["event"], s.get("where", []))}
        if fits:
            by_person[world.who(e.user)].append((e.ts.astimezone(dt.UTC), fits))
    levels: dict[str, int] = {}
    gaps: dict[str, list[float]] = {}
    for person, evs in by_person.items():
        evs.sort(key=lambda item: item[0])
        best, best_gaps = 0, []
        for i, (t0, fits) in enumerate(evs):
            if order == "ordered":
                if 0 not in fits:
                    continue
                used, prev, chain = {i}, t0, []
                for k in range(1, len(steps)):
                    found = next(
                        (
                            j
                            for j, (t, f) in enumerate(evs)
                            if j not in used and k in f and prev <= t <= t0 + span
                        ),
                        None,
                    )
                    if found is None:
                        break
                    used.add(found)
                    chain.append((evs[found][0] - prev).total_seconds())
                    prev = evs[found][0]
                if len(chain) + 1 > best:  # the earliest entry reaching the level wins
                    best, best_gaps = len(chain) + 1, chain
            else:
                # Each event here fits one step (the tests make sure of it).
                seen = {next(iter(f)) for t, f in evs if t0 <= t <= t0 + span}
                best = max(best, len(seen | fits))
        levels[person], gaps[person] = best, best_gaps
    users = [sum(1 for level in levels.values() if level > k) for k in range(len(steps))]
    out = []
    for k, step in enumerate(steps):
        conversion = users[k] / users[0] if users[0] else 0.0
        median = None
        if order == "ordered" and k > 0:
            median = _lower_median([gaps[p][k - 1] for p, lv in levels.items() if lv > k])
        out.append(
            {
                "event": step["event"],
                "users": users[k],
                "conversion": conversion,
                "median_seconds": median,
            }
        )
    return {"steps": out}
