"""The funnel's glue: per-person (timestamp, step mask) sequences, and the route end to end."""

from __future__ import annotations

import numpy as np

from evana.insights import FunnelQuery
from evana.server._insights._frame import Frame
from evana.server._insights._funnels import funnel_columns, person_sequences
from evana.server._storage import EventRows, PersonMap
from tests.conftest import Api

from .conftest import LinkedPersons, day, query, send, use_persons
from .reference import Ev

QUERY = FunnelQuery.model_validate(
    {
        "since": "2026-11-02",
        "until": "2026-11-08",
        "steps": [
            {"event": "signup"},
            {"event": "buy", "where": [{"key": "amount", "op": "gt", "value": 10}]},
            {"event": "buy"},
        ],
    }
)


def test_sequences_group_by_person_sort_by_time_and_tag_every_step() -> None:
    rows = EventRows(
        uids=np.array([3, 1, 2, 1, 3, 4], dtype=np.uint32),
        micros=np.array([50, 40, 30, 20, 10, 5], dtype=np.int64),
        codes=np.array([1, 1, 0, 0, 0, 2], dtype=np.int32),
        names=["signup", "buy", "view"],
        properties=[{"amount": 20}, {"amount": 5}, None, None, None, None],
    )
    persons = PersonMap({2: 1})  # uids 1 and 2 are one person
    got = list(person_sequences(QUERY, Frame(rows, persons)))
    assert got == [
        [(20, 0b001), (30, 0b001), (40, 0b100)],  # person 1: a cheap buy matches step 2 only
        [(10, 0b001), (50, 0b110)],  # person 3: a big buy matches steps 1 and 2
    ]  # uid 4's view matches no step: left out


def test_columns_load_only_the_steps_events() -> None:
    assert funnel_columns(QUERY) == (["buy", "signup"], True)


def test_funnel_route_counts_persons(iapi: Api) -> None:
    send(
        iapi,
        [
            Ev("signup", "anon", day(2, 10)),
            Ev("buy", "ann", day(3, 10), {"amount": 20}),
            Ev("signup", "bob", day(2, 10)),
            Ev("buy", "cat", day(2, 11), {"amount": 20}),
        ],
    )
    use_persons(iapi, LinkedPersons(iapi, {"anon": "ann"}))
    body = {
        "since": "2026-11-02",
        "until": "2026-11-08",
        "steps": [{"event": "signup"}, {"event": "buy"}],
    }
    assert query(iapi, "funnel", body)["steps"] == [
        {"event": "signup", "users": 2, "conversion": 1.0, "median_seconds": None},
        {"event": "buy", "users": 1, "conversion": 0.5, "median_seconds": 86400.0},
    ]
