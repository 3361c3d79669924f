"""Property rollups: insights of one tracked property come from them, equal to the reference,
without reading a raw event; a backfill running beside writers counts every event once; an
erasure and a compaction leave them exact."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from evana._settings import Settings
from evana.server._batch import NormalizedEvent
from evana.server._insights import _activity
from evana.server._storage import EventStore, backfill, erase_user, settle, sync_tracked
from evana.server._storage._tables import number_rollups, property_rollups, tracked_properties
from tests.conftest import Api, make_api

from . import reference as ref
from .conftest import day, query, send, stats
from .reference import Ev
from .test_against_reference import (
    GIVEN,
    NAMES,
    OPS,
    SETTINGS,
    check,
    dates,
    groups,
    load,
    person_props,
    raw_events,
)


def _refuse_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("an insight of a tracked property read raw events")

    monkeypatch.setattr(_activity, "load_event_rows", refuse)


@st.composite
def plan_filters(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(OPS))
    if op in ("is_set", "is_not_set"):
        return {"key": "plan", "op": op}
    if op in ("in", "not_in"):
        return {"key": "plan", "op": op, "value": draw(st.lists(GIVEN, min_size=1, max_size=3))}
    if op in ("gt", "gte", "lt", "lte"):
        return {"key": "plan", "op": op, "value": draw(st.sampled_from([-1, 0, 2.5, 5, 6]))}
    if op == "contains":
        return {"key": "plan", "op": op, "value": draw(st.sampled_from(["", "p", "5", "é"]))}
    return {"key": "plan", "op": op, "value": draw(GIVEN)}


plan_wheres = st.lists(plan_filters(), min_size=1, max_size=2)


@SETTINGS
@given(raw=raw_events(), labels=groups, props=person_props, data=st.data())
def test_trends_of_a_tracked_property_match_the_reference(
    iapi: Api,
    monkeypatch: pytest.MonkeyPatch,
    raw: list[Any],
    labels: list[int],
    props: dict[str, Any],
    data: st.DataObject,
) -> None:
    world = load(iapi, raw, labels, props)
    since, until = dates(data)
    breakdown = data.draw(st.none() | st.just("plan"), "breakdown")
    series = [
        {
            "event": data.draw(st.sampled_from(NAMES), "event"),
            "math": data.draw(st.sampled_from(["total", "users"]), "math"),
            "where": data.draw(plan_wheres if breakdown is None else st.just([]) | plan_wheres),
        }
        for _ in range(data.draw(st.integers(1, 3), "series"))
    ]
    body: dict[str, Any] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "interval": data.draw(st.sampled_from(["day", "week", "month"]), "interval"),
        "series": series,
        "breakdown": breakdown,
        "breakdown_limit": data.draw(st.integers(1, 4), "limit"),
    }
    with monkeypatch.context() as patch:
        _refuse_raw(patch)
        got = query(iapi, "trends", body)
    check(got, ref.trends(world, body))


@SETTINGS
@given(raw=raw_events(), labels=groups, props=person_props, data=st.data())
def test_number_maths_of_a_tracked_number_match_the_reference(
    iapi: Api,
    monkeypatch: pytest.MonkeyPatch,
    raw: list[Any],
    labels: list[int],
    props: dict[str, Any],
    data: st.DataObject,
) -> None:
    world = load(iapi, raw, labels, props)
    since, until = dates(data)
    maths = st.sampled_from(
        ["sum", "avg", "min", "max", "median", "p90", "p95", "p99", "total", "users"]
    )
    series = [
        {"event": data.draw(st.sampled_from(NAMES), "event"), "math": math, "property": "amount"}
        for math in data.draw(st.lists(maths, min_size=1, max_size=3), "maths")
    ]
    if all(s["math"] in ("total", "users") for s in series):
        series[0]["math"] = "sum"
    for one in series:
        if one["math"] in ("total", "users"):
            del one["property"]
    body: dict[str, Any] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "interval": data.draw(st.sampled_from(["day", "week", "month"]), "interval"),
        "series": series,
    }
    with monkeypatch.context() as patch:
        _refuse_raw(patch)
        got = query(iapi, "trends", body)
    check(got, ref.trends(world, body))


@SETTINGS
@given(raw=raw_events(), labels=groups, props=person_props, data=st.data())
def test_reports_filtered_by_a_tracked_property_match_the_reference(
    iapi: Api,
    monkeypatch: pytest.MonkeyPatch,
    raw: list[Any],
    labels: list[int],
    props: dict[str, Any],
    data: st.DataObject,
) -> None:
    world = load(iapi, raw, labels, props)
    since, until = dates(data)
    where = data.draw(plan_wheres, "where")
    event = data.draw(st.none() | st.sampled_from(NAMES), "event")
    on = {"event": event} if event else {}
    params = {"since": since.isoformat(), "until": until.isoformat(), "where": json.dumps(where)}
    period = data.draw(st.sampled_from(["day", "week", "month"]), "period")
    returning = data.draw(st.none() | st.sampled_from(NAMES), "return_event")
    both = {k: v for k, v in (("start_event", event), ("return_event", returning)) if v}
    with monkeypatch.context() as patch:
        _refuse_raw(patch)
        sticky = stats(iapi, "stickiness", **params, **on)
        life = stats(iapi, "lifecycle", **params, **on, period=period)
        kept = stats(iapi, "retention", **params, **both, period=period, periods=4)
        active = {kind: stats(iapi, kind, **params) for kind in ("dau", "wau", "mau")}
        limit = data.draw(st.integers(1, 4), "limit")
        top = stats(iapi, "top-events", **params, limit=limit)
    check(sticky, ref.stickiness(world, since, until, event, where))
    check(life, ref.lifecycle(world, since, until, period, event, where))
    expected = ref.retention(
        world, since, until, period, 4, event, returning, "first_time", False, where
    )
    check(kept, expected)
    for kind, window in (("dau", 1), ("wau", 7), ("mau", 30)):
        check(active[kind], ref.active(world, since, until, window, where))
    check(top, ref.top(world, since, until, limit, where))


def _plan_trends(api: Api, math: str = "users") -> Any:
    body = {
        "since": "2026-11-01",
        "until": "2026-11-10",
        "series": [{"event": "buy", "math": math}],
        "breakdown": "plan",
    }
    return query(api, "trends", body)


def _uses_rollups(api: Api, ready: bool) -> None:
    db = api.client.app_state["evana"].db  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(update(tracked_properties).values(ready=ready))


@pytest.fixture
def untracked_api(db_url: str) -> Iterator[Api]:
    """The API on each dialect, tracking no property."""
    yield from make_api(Settings(database_url=db_url))


def test_a_backfill_beside_writers_counts_every_event_once(untracked_api: Api) -> None:
    api = untracked_api
    """Events written while the backfill runs (on days it has built, is building and has not
    reached) end up counted once: the trends from the rollups equal those from raw events."""
    plans = ["pro", "free", None, 5]
    send(
        api,
        [
            Ev("buy", f"u{n % 7}", day(d, hour=n % 24), {"plan": plans[n % 4]})
            for d in range(1, 9)
            for n in range(12)
        ],
    )
    db = api.client.app_state["evana"].db  # type: ignore[attr-defined]
    assert sync_tracked(db, ["plan"]) == ["plan"]
    store = EventStore(db)
    late: list[int] = []

    def write_meanwhile(done: int, _total: int) -> None:
        # Another writer, as a worker would be: between the backfill's steps, events of a
        # built day, of the next day and of a day past the last.
        if done in (1, 4):
            stamps = [day(1), day(done + 1), day(9)]
            rows = [
                NormalizedEvent(uuid.uuid4(), "buy", f"late{done}", when, {"plan": "pro"}, when)
                for when in stamps
            ]
            thread = threading.Thread(target=store.write, args=(rows,))
            thread.start()
            thread.join(20)
            late.append(done)

    assert backfill(db, write_meanwhile) == 8
    assert late == [1, 4]
    with db.read() as conn:
        assert conn.execute(select(tracked_properties.c.ready)).scalar_one() is True
    for math in ("users", "total"):
        from_rollups = _plan_trends(api, math)
        _uses_rollups(api, ready=False)
        from_events = _plan_trends(api, math)
        _uses_rollups(api, ready=True)
        assert from_rollups == from_events
    assert _plan_trends(api, "total")["results"][0]["total"] == 96 // 4 + 6


def _amount_trends(api: Api) -> list[Any]:
    body = {
        "since": "2026-11-01",
        "until": "2026-11-10",
        "series": [
            {"event": "buy", "math": m, "property": "amount"}
            for m in ("sum", "min", "max", "median", "p90")
        ],
    }
    return [r["total"] for r in query(api, "trends", body)["results"]]


def test_erasure_and_compaction_keep_property_rollups_exact(
    iapi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [
        Ev("buy", user, day(d), {"plan": plan, "amount": amount})
        for d in (1, 2, 3)
        for user, plan, amount in (
            ("ann", "pro", 100),
            ("bob", "pro", 2.5),
            ("cy", "free", 7),
            ("ann", None, -3),
        )
    ]
    for part in range(0, len(events), 3):  # several writes: several rows per key
        send(iapi, events[part : part + 3])
    db = iapi.client.app_state["evana"].db  # type: ignore[attr-defined]
    settle(db, dt.date(2026, 12, 1))
    with db.read() as conn:
        for table in (property_rollups, number_rollups):
            per_key = conn.execute(
                select(func.count()).select_from(table).group_by(table.c.day, table.c.event)
            ).scalars()
            assert set(per_key) == {1}
    with monkeypatch.context() as patch:
        _refuse_raw(patch)
        assert _amount_trends(iapi) == [319.5, -3, 100, 2.5, 100]
        erase_user(db, "ann")
        assert _amount_trends(iapi) == [28.5, 2.5, 7, 2.5, 7]
    got = _plan_trends(iapi)
    assert [(r["breakdown"], r["total"]) for r in got["results"]] == [("free", 1), ("pro", 1)]
    _uses_rollups(iapi, ready=False)
    assert _plan_trends(iapi) == got
    assert _amount_trends(iapi) == [28.5, 2.5, 7, 2.5, 7]
    _uses_rollups(iapi, ready=True)
    assert _plan_trends(iapi, "total")["results"][1]["total"] == 3


def test_a_query_of_two_properties_or_a_property_math_reads_raw_events(iapi: Api) -> None:
    send(iapi, [Ev("buy", "u1", day(2), {"plan": "pro", "amount": 5})])
    body: dict[str, Any] = {"since": "2026-11-02", "until": "2026-11-02"}
    both = [{"key": "plan", "op": "eq", "value": "pro"}, {"key": "amount", "op": "gt", "value": 1}]
    summed = [{"event": "buy", "math": "sum", "property": "amount", "where": both[:1]}]
    got = query(iapi, "trends", {**body, "series": [{"event": "buy", "where": both}]})
    assert got["results"][0]["total"] == 1
    assert query(iapi, "trends", {**body, "series": summed})["results"][0]["total"] == 5


def test_a_percentile_of_an_integer_past_float64_reads_raw_events(
    iapi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Float64 would round 2**53 + 1 to 2**53: a day holding it keeps no multiset, so a
    percentile over it comes from raw events, exact; other days' still come from rollups."""
    huge = 2**53 + 1
    send(
        iapi,
        [
            Ev("buy", "ann", day(2), {"amount": huge}),
            Ev("buy", "bob", day(2), {"amount": 2**53}),
            Ev("buy", "cy", day(3), {"amount": 1.5}),
            Ev("buy", "cy", day(3), {"amount": 2}),
        ],
    )

    def p99(since: int, until: int) -> list[Any]:
        body = {
            "since": day(since).date().isoformat(),
            "until": day(until).date().isoformat(),
            "series": [{"event": "buy", "math": "p99", "property": "amount"}],
        }
        result = query(iapi, "trends", body)["results"][0]
        return [result["total"], *(point["value"] for point in result["points"])]

    assert p99(1, 3) == [huge, None, huge, 2]
    with monkeypatch.context() as patch:
        _refuse_raw(patch)
        assert p99(3, 3) == [2, 2]
        with pytest.raises(AssertionError, match="read raw events"):
            p99(2, 3)
