"""Generated events and queries: the API's answers equal the reference's, on both dialects.

Properties of every JSON type, timestamps in many UTC offsets crossing midnight, resent
duplicates, person operations, and ids linked into persons with properties.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

from . import reference as ref
from .conftest import LinkedPersons, forget_events, query, send, stats, use_persons, wire
from .reference import Ev, World

BASE = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
FIRST_DAY = dt.date(2026, 10, 18)
NAMES = ["view", "buy", "signup"]
OFFSETS = [-11, -5, 0, 3, 5.5, 14]
POOL: list[Any] = [
    "pro",
    "free",
    "5",
    "",
    "Pro é",
    "Ω",
    5,
    5.0,
    2.5,
    -1,
    0,
    10**15,
    0.1,
    True,
    False,
    None,
    [1, "a"],
    {"b": 1, "a": [2.0]},
]
KEYS = ["plan", "amount", "a.b"]
OPS = ["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "is_set", "is_not_set"]
VALUES = st.sampled_from(POOL)
GIVEN = st.sampled_from([v for v in POOL if v is not None])


@st.composite
def raw_events(draw: st.DrawFn) -> list[Any]:
    """Many events, spread evenly by a seeded generator (hypothesis's own lists stay small)."""
    rnd = random.Random(draw(st.integers(0, 2**32)))
    out = []
    for _ in range(draw(st.integers(0, 150))):
        props: dict[str, Any] | None = None
        if rnd.random() < 0.85:
            props = {k: rnd.choice(POOL) for k in rnd.sample(KEYS, rnd.randint(1, 3))}
        name = rnd.choice([*NAMES, *NAMES, "$identify"])
        minutes = rnd.randint(0, 24 * 24 * 60)  # 24 days after BASE, crossing many midnights
        out.append(
            (name, rnd.randint(0, 7), minutes, rnd.choice(OFFSETS), props, rnd.random() < 0.2)
        )
    return out


groups = st.lists(st.integers(0, 4), min_size=8, max_size=8)
person_props = st.dictionaries(
    st.sampled_from([f"g{i}" for i in range(5)]),
    st.dictionaries(st.sampled_from(["tier", "plan"]), VALUES, max_size=2),
)


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from([*KEYS, "person.tier", "person.plan"]))
    op = draw(st.sampled_from(OPS))
    if op in ("is_set", "is_not_set"):
        return {"key": key, "op": op}
    if op in ("in", "not_in"):
        return {"key": key, "op": op, "value": draw(st.lists(GIVEN, min_size=1, max_size=3))}
    if op in ("gt", "gte", "lt", "lte"):
        return {"key": key, "op": op, "value": draw(st.sampled_from([-1, 0, 2.5, 5, 6]))}
    if op == "contains":
        return {"key": key, "op": op, "value": draw(st.sampled_from(["", "p", "5", "ro", "é"]))}
    return {"key": key, "op": op, "value": draw(GIVEN)}


wheres = st.just([]) | st.lists(filters(), min_size=1, max_size=2)


def build(raw: list[Any], labels: list[int], props: dict[str, Any]) -> tuple[World, list[Any]]:
    events, wire_events = [], []
    for name, user, minutes, offset, properties_, twice in raw:
        tz = dt.timezone(dt.timedelta(hours=offset))
        e = Ev(
            name, f"user-{user}", (BASE + dt.timedelta(minutes=minutes)).astimezone(tz), properties_
        )
        events.append(e)
        sent = wire(e, str(uuid.uuid4()))
        wire_events += [sent, sent] if twice else [sent]
    person = {f"user-{u}": f"g{label}" for u, label in enumerate(labels)}
    return World(events, person, props), wire_events


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def check(got: Any, expected: Any) -> None:
    assert same(got, expected), json.dumps({"got": got, "expected": expected})[:4000]


def load(api: Api, raw: list[Any], labels: list[int], props: dict[str, Any]) -> World:
    world, wire_events = build(raw, labels, props)
    forget_events(api)
    use_persons(api, LinkedPersons(api, world.person, props))
    send(api, wire_events)
    return world


def dates(data: st.DataObject) -> tuple[dt.date, dt.date]:
    rnd = random.Random(data.draw(st.integers(0, 2**32), "dates"))
    since = FIRST_DAY + dt.timedelta(days=rnd.randint(0, 26))
    return since, since + dt.timedelta(days=rnd.randint(0, 20))


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def series(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"event": draw(st.none() | st.sampled_from(NAMES))}
    out["math"] = draw(st.sampled_from(ref_maths()))
    if out["math"] not in ("total", "users"):
        out["property"] = draw(st.sampled_from(["amount", "plan", "person.tier"]))
    out["where"] = draw(wheres)
    return out


def ref_maths() -> list[str]:
    return ["total", "users", "sum", "avg", "min", "max", "median", "p90", "p95", "p99"]


@SETTINGS
@given(raw=raw_events(), labels=groups, props=person_props, data=st.data())
def test_trends_match_the_reference(
    iapi: Api, raw: list[Any], labels: list[int], props: dict[str, Any], data: st.DataObject
) -> None:
    world = load(iapi, raw, labels, props)
    since, until = dates(data)
    body: dict[str, Any] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "interval": data.draw(st.sampled_from(["day", "week", "month"]), "interval"),
        "series": data.draw(st.lists(series(), min_size=1, max_size=3), "series"),
        "breakdown": data.draw(
            st.none() | st.sampled_from(["plan", "amount", "a.b", "person.plan"]), "breakdown"
        ),
        "breakdown_limit": data.draw(st.integers(1, 4), "limit"),
    }
    check(query(iapi, "trends", body), ref.trends(world, body))


@SETTINGS
@given(raw=raw_events(), labels=groups, props=person_props, data=st.data())
def test_reports_match_the_reference(
    iapi: Api, raw: list[Any], labels: list[int], props: dict[str, Any], data: st.DataObject
) -> None:
    world = load(iapi, raw, labels, props)
    since, until = dates(data)
    where = data.draw(st.none() | wheres, "where")
    params: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
    if where is not None:
        params["where"] = json.dumps(where)
    filters_ = where or []
    event = data.draw(st.none() | st.sampled_from(NAMES), "event")
    on = {"event": event} if event else {}
    check(
        stats(iapi, "stickiness", **params, **on),
        ref.stickiness(world, since, until, event, filters_),
    )
    period = data.draw(st.sampled_from(["day", "week", "month"]), "period")
    check(
        stats(iapi, "lifecycle", **params, **on, period=period),
        ref.lifecycle(world, since, until, period, event, filters_),
    )
    for report, window in (("dau", 1), ("wau", 7), ("mau", 30)):
        check(stats(iapi, report, **params), ref.active(world, since, until, window, filters_))
    limit = data.draw(st.integers(1, 4), "limit")
    check(
        stats(iapi, "top-events", **params, limit=limit),
        ref.top(world, since, until, limit, filters_),
    )
    kind = data.draw(st.sampled_from(["first_time", "recurring"]), "type")
    cumulative = data.draw(st.booleans(), "cumulative")
    periods = data.draw(st.integers(1, 5), "periods")
    start_event = data.draw(st.none() | st.sampled_from(NAMES), "start_event")
    return_event = data.draw(st.none() | st.sampled_from(NAMES), "return_event")
    extra = {k: v for k, v in (("start_event", start_event), ("return_event", return_event)) if v}
    got = stats(
        iapi,
        "retention",
        **params,
        **extra,
        period=period,
        periods=periods,
        type=kind,
        cumulative=str(cumulative).lower(),
    )
    expected = ref.retention(
        world, since, until, period, periods, start_event, return_event, kind, cumulative, filters_
    )
    check(got, expected)


@st.composite
def funnel_queries(draw: st.DrawFn) -> dict[str, Any]:
    order = draw(st.sampled_from(["ordered", "any"]))
    if order == "any":  # one step per event name, so that each event fits one step
        names = draw(st.permutations(NAMES))[: draw(st.integers(2, 3))]
        steps = [{"event": name} for name in names]
    else:
        steps = [
            {"event": draw(st.sampled_from(NAMES)), "where": draw(wheres)}
            for _ in range(draw(st.integers(2, 4)))
        ]
    window = {"value": draw(st.integers(1, 5)), "unit": draw(st.sampled_from(["hour", "day"]))}
    return {"steps": steps, "window": window, "order": order}


@SETTINGS
@given(raw=raw_events(), labels=groups, props=person_props, data=st.data())
def test_funnels_match_the_reference(
    iapi: Api, raw: list[Any], labels: list[int], props: dict[str, Any], data: st.DataObject
) -> None:
    world = load(iapi, raw, labels, props)
    since, until = dates(data)
    body = {"since": since.isoformat(), "until": until.isoformat(), **data.draw(funnel_queries())}
    check(query(iapi, "funnel", body), ref.funnel(world, body))
