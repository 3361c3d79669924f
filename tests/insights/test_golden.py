"""Small cases worked out by hand from DESIGN.md, through the HTTP API on both dialects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

from .conftest import LinkedPersons, day, query, send, stats, use_persons
from .reference import Ev

SINCE, UNTIL = "2026-11-02", "2026-11-08"


def trend(api: Api, **series: Any) -> dict[str, Any]:
    body = {"since": SINCE, "until": UNTIL, "series": [series]}
    return query(api, "trends", body)["results"][0]  # type: ignore[no-any-return]


def test_property_maths_and_nearest_rank_percentiles(iapi: Api) -> None:
    events = [Ev("buy", f"u{i}", day(2), {"amount": i}) for i in range(1, 11)]
    events += [Ev("buy", "ann", day(3), {"amount": v}) for v in ("7", True, None)]
    events += [Ev("buy", "ann", day(3)), Ev("$identify", "ann", day(3), {"amount": 100})]
    send(iapi, events)
    expected = {
        "total": 14,
        "users": 11,
        "sum": 55,
        "avg": 5.5,
        "min": 1,
        "max": 10,
        "median": 5,  # rank ceil(0.5 * 10) = 5
        "p90": 9,  # rank 9
        "p95": 10,  # rank ceil(9.5) = 10
        "p99": 10,
    }
    for name, value in expected.items():
        got = trend(iapi, event="buy", math=name, property="amount")
        assert got["total"] == value, name
        days = [p["value"] for p in got["points"]]
        assert len(days) == 7
        # Nov 3 has only non-numbers: 0 events of math, so 0 for sum and null for the others.
        if name in ("total", "users"):
            assert days[1] == {"total": 4, "users": 1}[name]
        else:
            assert days[1] == (0 if name == "sum" else None), name
        assert days[2] == (0 if name in ("total", "users", "sum") else None)


def test_odd_counts_and_floats(iapi: Api) -> None:
    send(iapi, [Ev("buy", "u", day(2), {"x": v}) for v in (2.5, 1, 0.5)])
    assert trend(iapi, event="buy", math="median", property="x")["total"] == 1  # rank 2 of 3
    assert trend(iapi, event="buy", math="p90", property="x")["total"] == 2.5
    assert trend(iapi, event="buy", math="sum", property="x")["total"] == 4.0
    assert trend(iapi, event="buy", math="avg", property="x")["total"] == pytest.approx(4 / 3)


PLAN_VALUES: list[Any] = [
    *["pro"] * 3,
    5,
    5.0,
    "5",
    True,
    True,
    "true",
    None,
    "missing",
    {"b": 1, "a": [1.0]},
    2.5,
]


def plan_events() -> list[Ev]:
    out = []
    for i, value in enumerate(PLAN_VALUES):
        props = {} if value == "missing" else {"plan": value}
        out.append(Ev("view", f"u{i}", day(2 + i % 3), props))
    return out


def test_breakdown_texts_order_and_other(iapi: Api) -> None:
    send(iapi, plan_events())
    body: dict[str, Any] = {"since": SINCE, "until": UNTIL, "series": [{"event": "view"}]}
    body["breakdown"] = "plan"
    results = query(iapi, "trends", body)["results"]
    assert [(r["breakdown"], r["total"]) for r in results] == [
        ("5", 3),  # 5, 5.0 and "5": one text
        ("pro", 3),
        ("true", 3),  # true and "true"
        (None, 2),  # null and missing
        ("2.5", 1),
        ('{"a":[1],"b":1}', 1),  # compact, sorted keys, 1.0 as 1
    ]
    results = query(iapi, "trends", {**body, "breakdown_limit": 3})["results"]
    assert [(r["breakdown"], r["total"]) for r in results] == [
        ("5", 3),
        ("pro", 3),
        ("true", 3),
        ("$other", 4),
    ]
    other = results[-1]
    assert sum(p["value"] for p in other["points"]) == 4
    assert all(r["series"] == 0 and r["event"] == "view" for r in results)


def test_other_counts_each_person_once(iapi: Api) -> None:
    events = [Ev("view", u, day(2), {"plan": "a"}) for u in ("u1", "u2", "u3")]
    events += [Ev("view", "u4", day(3), {"plan": p}) for p in ("b", "c", "d")]
    send(iapi, events)
    body = {
        "since": SINCE,
        "until": UNTIL,
        "series": [{"event": "view", "math": "users"}, {"event": "view"}],
        "breakdown": "plan",
        "breakdown_limit": 1,
    }
    results = query(iapi, "trends", body)["results"]
    assert [(r["series"], r["breakdown"], r["total"]) for r in results] == [
        (0, "a", 3),
        (0, "$other", 1),
        (1, "a", 3),
        (1, "$other", 3),
    ]


def test_intervals_are_dated_by_their_first_day_and_count_only_the_range(iapi: Api) -> None:
    send(
        iapi,
        [
            Ev("view", "a", day(3)),  # before since
            Ev("view", "a", day(4, 0, offset=2)),  # Nov 3 22:00 UTC: before since
            Ev("view", "a", day(4, 1)),
            Ev("view", "b", day(10, 23, offset=-5)),  # Nov 11 04:00 UTC
            Ev("view", "c", day(16, 23, offset=-3)),  # Nov 17 02:00 UTC: the last day
            Ev("view", "c", day(17, 23, offset=-5)),  # Nov 18 UTC: after until
        ],
    )
    base = {"since": "2026-11-04", "until": "2026-11-17", "series": [{"event": "view"}]}
    weekly = query(iapi, "trends", {**base, "interval": "week"})["results"][0]
    assert weekly["points"] == [
        {"date": "2026-11-02", "value": 1},
        {"date": "2026-11-09", "value": 1},
        {"date": "2026-11-16", "value": 1},
    ]
    assert weekly["total"] == 3
    monthly = query(iapi, "trends", {**base, "interval": "month"})["results"][0]
    assert monthly["points"] == [{"date": "2026-11-01", "value": 3}]
    daily = query(iapi, "trends", base)["results"][0]
    assert daily["points"][0]["date"] == "2026-11-04"
    assert len(daily["points"]) == 14
    assert daily["points"][7] == {"date": "2026-11-11", "value": 1}


def test_lifecycle_transitions(iapi: Api) -> None:
    send(
        iapi,
        [
            Ev("view", "ann", day(1)),
            Ev("view", "ann", day(2)),
            Ev("view", "ann", day(4)),
            Ev("view", "bob", day(20, month=10)),  # history before since
            Ev("view", "bob", day(2)),
            Ev("view", "cat", day(3)),
            Ev("view", "dan", day(5)),  # after until: does not exist yet
            Ev("$identify", "eve", day(3)),  # not activity
        ],
    )
    got = stats(iapi, "lifecycle", since="2026-11-02", until="2026-11-04", period="day")
    rows = [
        (p["date"], p["new"], p["returning"], p["resurrecting"], p["dormant"])
        for p in got["periods"]
    ]
    assert rows == [
        ("2026-11-02", 0, 1, 1, 0),  # ann returns from Nov 1; bob resurrects from October
        ("2026-11-03", 1, 0, 0, 2),  # cat is new; ann and bob go dormant
        ("2026-11-04", 0, 0, 1, 1),  # ann resurrects; cat goes dormant
    ]


def retention_events() -> list[Ev]:
    # Nov 2 2026 is a Monday: weeks w0 = Nov 2, w1 = Nov 9, w2 = Nov 16.
    return [
        Ev("view", "ann", day(2)),
        Ev("view", "ann", day(17)),
        Ev("view", "bob", day(3)),
        Ev("view", "bob", day(10)),
        Ev("view", "cat", day(11)),
        Ev("view", "cat", day(19)),  # after until
    ]


@pytest.mark.parametrize(
    ("kind", "cumulative", "expected"),
    [
        ("first_time", False, [(2, [2, 1, 1]), (1, [1, 0, None]), (0, [0, None, None])]),
        ("recurring", False, [(2, [2, 1, 1]), (2, [2, 0, None]), (1, [1, None, None])]),
        ("first_time", True, [(2, [2, 2, 1]), (1, [1, 0, None]), (0, [0, None, None])]),
        ("recurring", True, [(2, [2, 2, 1]), (2, [2, 0, None]), (1, [1, None, None])]),
    ],
)
def test_recurring_and_cumulative_retention(
    iapi: Api, kind: str, cumulative: bool, expected: list[Any]
) -> None:
    send(iapi, retention_events())
    got = stats(
        iapi,
        "retention",
        since="2026-11-02",
        until="2026-11-18",
        period="week",
        periods=3,
        type=kind,
        cumulative=str(cumulative).lower(),
    )
    assert [(c["size"], c["retained"]) for c in got["cohorts"]] == expected


def test_stickiness_counts_days_per_person(iapi: Api) -> None:
    send(
        iapi,
        [
            Ev("view", "ann", day(2)),
            Ev("view", "ann", day(2, 20)),
            Ev("view", "ann", day(3)),
            Ev("buy", "bob", day(4)),
            Ev("view", "cat", day(1)),  # before since
        ],
    )
    got = stats(iapi, "stickiness", since="2026-11-02", until="2026-11-04")
    assert [d["users"] for d in got["days"]] == [1, 1, 0]
    got = stats(iapi, "stickiness", since="2026-11-02", until="2026-11-04", event="view")
    assert [d["users"] for d in got["days"]] == [0, 1, 0]


VALUES: list[Any] = [5, 5.0, "5", True, None, "missing", "Hello", [1, 2], {"a": 1}, 7.5, False, 0]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"op": "eq", "value": 5}, {0, 1}),
        ({"op": "eq", "value": "5"}, {2}),
        ({"op": "eq", "value": True}, {3}),
        ({"op": "eq", "value": 0}, {11}),
        ({"op": "eq", "value": False}, {10}),
        ({"op": "eq", "value": [1.0, 2]}, {7}),
        ({"op": "eq", "value": {"a": 1}}, {8}),
        ({"op": "neq", "value": 5}, set(range(2, 12))),
        ({"op": "in", "value": [5, "Hello"]}, {0, 1, 6}),
        ({"op": "not_in", "value": [5]}, set(range(2, 12))),
        ({"op": "gt", "value": 4}, {0, 1, 9}),
        ({"op": "gte", "value": 5.0}, {0, 1, 9}),
        ({"op": "lt", "value": 1}, {11}),
        ({"op": "lte", "value": 0}, {11}),
        ({"op": "contains", "value": "ell"}, {6}),
        ({"op": "contains", "value": "5"}, {2}),
        ({"op": "contains", "value": "hello"}, set()),
        ({"op": "is_set"}, set(range(12)) - {4, 5}),
        ({"op": "is_not_set"}, {4, 5}),
    ],
)
def test_filter_semantics_per_type(iapi: Api, where: dict[str, Any], expected: set[int]) -> None:
    events = []
    for i, value in enumerate(VALUES):
        props = {} if value == "missing" else {"p": value}
        events.append(Ev("view", f"u{i}", day(2), props))
    send(iapi, events)
    series = {"event": "view", "math": "users", "where": [{"key": "p", **where}]}
    assert trend(iapi, **series)["total"] == len(expected)
    # The same filter on a rollup report: only matching events exist.
    dau = stats(iapi, "dau", since=SINCE, until=SINCE, where=json.dumps([{"key": "p", **where}]))
    assert dau["series"][0]["users"] == len(expected)


def test_a_dot_is_part_of_the_key(iapi: Api) -> None:
    send(iapi, [Ev("view", "a", day(2), {"a.b": 1}), Ev("view", "b", day(2), {"a": {"b": 1}})])
    got = trend(iapi, event="view", where=[{"key": "a.b", "op": "eq", "value": 1}])
    assert got["total"] == 1


def test_linked_ids_count_as_one_person_everywhere(iapi: Api) -> None:
    send(
        iapi,
        [
            Ev("view", "anon", day(2), {"plan": "free"}),
            Ev("view", "ann", day(3), {"plan": "pro"}),
            Ev("view", "bob", day(3), {"plan": "pro"}),
        ],
    )
    use_persons(
        iapi,
        LinkedPersons(iapi, {"anon": "ann"}, {"ann": {"tier": "gold"}, "bob": {"tier": 1}}),
    )
    week = {"since": SINCE, "until": UNTIL}
    assert stats(iapi, "wau", since=UNTIL, until=UNTIL)["series"][0]["users"] == 2
    assert stats(iapi, "top-events", **week)["events"] == [
        {"event": "view", "count": 3, "users": 2}
    ]
    got = trend(iapi, event="view", math="users")
    assert got["total"] == 2
    assert [p["value"] for p in got["points"][:2]] == [1, 2]
    gold = [{"key": "person.tier", "op": "eq", "value": "gold"}]
    assert trend(iapi, event="view", where=gold)["total"] == 2  # both of ann's ids
    body = {**week, "series": [{"event": "view", "math": "users"}], "breakdown": "person.tier"}
    assert [(r["breakdown"], r["total"]) for r in query(iapi, "trends", body)["results"]] == [
        ("1", 1),
        ("gold", 1),
    ]
    got = stats(iapi, "stickiness", **week)
    assert [d["users"] for d in got["days"][:2]] == [1, 1]  # ann on 2 days, bob on 1
    got = stats(iapi, "lifecycle", since="2026-11-03", until="2026-11-03", period="day")
    assert got["periods"][0]["new"] == 1  # bob; ann was first seen on Nov 2 as anon
    got = stats(iapi, "retention", since=SINCE, until="2026-11-03", period="day", periods=2)
    assert [(c["size"], c["retained"]) for c in got["cohorts"]] == [(1, [1, 1]), (1, [1, None])]


def test_who_is_new_follows_history_that_changes_after_it_was_cached(iapi: Api) -> None:
    """Lifecycle and first-time retention take who was active before their range from one
    cached union of the settled days: a late event on an old day, and an erasure, must still
    change who is new."""
    from evana.server._storage import erase_user

    old = [Ev("view", f"u{n}", day(1 + n % 10, month=10)) for n in range(30)]
    send(iapi, [*old, *(Ev("view", f"u{n}", day(2)) for n in range(0, 40, 2))])
    span = {"since": "2026-11-02", "until": "2026-11-02", "period": "day"}

    def new() -> tuple[int, int]:
        life = stats(iapi, "lifecycle", **span)["periods"][0]["new"]
        cohort = stats(iapi, "retention", **span, periods=1)["cohorts"][0]["size"]
        return life, cohort

    assert new() == new() == (5, 5)  # u30..u38 even: never seen in October
    send(iapi, [Ev("view", "u32", day(20, month=10))])  # late, on a settled day
    assert new() == (4, 4)
    db = iapi.client.app_state["evana"].db  # type: ignore[attr-defined]
    erase_user(db, "u0")  # seen in October, active on Nov 2: was never new
    erase_user(db, "u30")  # new on Nov 2
    assert new() == (3, 3)
    assert stats(iapi, "lifecycle", **span)["periods"][0]["resurrecting"] == 15
