"""Persons and insights end to end: the SDK and the CLI against a real ``evana serve``.

Three persons over three days, small enough that every answer is worked out by hand here:

- P1 = {anon_1, u_1}: anon_1 views on day 1, then is identified as u_1 (plan pro), who signs
  up and buys for 30 the same morning.
- P2 = {anon_2, u_2}: anon_2 views on day 1, u_2 signs up on day 2 and views on day 3; an alias
  links them.
- P3 = {u_3}: buys for 5 on day 3, nothing else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

import evana
from evana.insights import FunnelResult, Lifecycle, Person, Stickiness, Trends
from evana.schema import ActiveUsers, Retention, TopEvents
from tests._evana import evana_serve, run_evana

from .conftest import Served

DAY1 = dt.date(2026, 10, 5)  # a Monday
DAY2, DAY3 = DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=2)
SPAN = {"since": DAY1, "until": DAY3}
PRO = [{"key": "person.plan", "op": "eq", "value": "pro"}]
BIG = [{"key": "amount", "op": "gt", "value": 10}]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), dt.UTC)


def ev(name: str, user: str, when: dt.datetime, **props: Any) -> dict[str, Any]:
    return {"event": name, "user_id": user, "timestamp": when.isoformat(), "properties": props}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A fresh server with the three persons loaded (through track, identify and alias)."""
    cwd = tmp_path_factory.mktemp("insights")
    with evana_serve(cwd) as server:
        assert server.admin_key
        target = Served(server.url, server.admin_key, cwd, server)
        with evana.Client(target.url, target.admin_key) as client:
            result = client.send_batch(
                [
                    ev("view", "anon_1", at(DAY1, 10)),
                    ev("signup", "u_1", at(DAY1, 10, 10)),
                    ev("purchase", "u_1", at(DAY1, 11, 10), amount=30),
                    ev("view", "anon_2", at(DAY1, 8)),
                    ev("signup", "u_2", at(DAY2, 9)),
                    ev("view", "u_2", at(DAY3, 9)),
                    ev("purchase", "u_3", at(DAY3, 12), amount=5),
                ]
            )
            assert result.accepted == 7
            client.identify(
                "u_1", anonymous_id="anon_1", set={"plan": "pro"}, timestamp=at(DAY1, 10, 5)
            )
            client.alias("anon_2", "u_2", timestamp=at(DAY2, 9, 1))
            assert client.flush(timeout=10)
            _linked(client, "anon_2", {"anon_2", "u_2"})
            _linked(client, "anon_1", {"anon_1", "u_1"})
        yield target


def _linked(client: evana.Client, distinct_id: str, ids: set[str]) -> None:
    # 202 means durable; the links are in every report from then on, but give a busy
    # machine's writer a moment before the first look.
    deadline = time.monotonic() + 15
    while set(client.persons.get(distinct_id).distinct_ids) != ids:
        assert time.monotonic() < deadline, client.persons.get(distinct_id)
        time.sleep(0.2)


def cli(served: Served, *args: str) -> Any:
    env = {**os.environ, "EVANA_URL": served.url, "EVANA_API_KEY": served.admin_key}
    out = run_evana(*args, "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_persons(served: Served) -> None:
    with evana.Client(served.url, served.admin_key) as client:
        person = client.persons.get("u_1")
    assert isinstance(person, Person)
    assert set(person.distinct_ids) == {"anon_1", "u_1"}
    assert person.properties == {"plan": "pro"}
    assert person.first_seen == at(DAY1, 10)
    assert person.last_seen == at(DAY1, 11, 10)
    shown = cli(served, "persons", "show", "anon_1")
    assert shown == person.model_dump(mode="json") | {"distinct_ids": shown["distinct_ids"]}
    assert set(shown["distinct_ids"]) == {"anon_1", "u_1"}


def test_trends(served: Served) -> None:
    with evana.Client(served.url, served.admin_key) as client:
        trend = client.query.trends(
            ["purchase", {"event": "view", "math": "users"}], **SPAN, math="sum", property="amount"
        )
    assert isinstance(trend, Trends)
    spent, viewers = trend.results
    assert [p.value for p in spent.points] == [30, 0, 5]
    assert spent.total == 35
    assert [p.value for p in viewers.points] == [2, 0, 1]  # persons, not ids
    assert viewers.total == 2
    printed = cli(
        served,
        "trends",
        "purchase",
        "-m",
        "sum",
        "-p",
        "amount",
        "--since",
        str(DAY1),
        "--until",
        str(DAY3),
        "--breakdown",
        "person.plan",
    )
    assert [(r["breakdown"], r["total"]) for r in printed["results"]] == [("pro", 30), (None, 5)]


def test_funnel(served: Served) -> None:
    with evana.Client(served.url, served.admin_key) as client:
        funnel = client.query.funnel(["signup", "purchase"], **SPAN, window="1d")
    assert isinstance(funnel, FunnelResult)
    assert [(s.users, s.conversion, s.median_seconds) for s in funnel.steps] == [
        (2, 1.0, None),
        (1, 0.5, 3600.0),
    ]
    printed = cli(
        served,
        "funnel",
        "signup",
        "purchase",
        "--since",
        str(DAY1),
        "--until",
        str(DAY3),
        "--window",
        "1d",
    )
    assert printed == funnel.model_dump(mode="json")


def test_stickiness_and_lifecycle(served: Served) -> None:
    with evana.Client(served.url, served.admin_key) as client:
        sticky = client.stats.stickiness(**SPAN)
        cycle = client.stats.lifecycle(**SPAN, period="day")
    assert isinstance(sticky, Stickiness)
    assert [(r.days_active, r.users) for r in sticky.days] == [(1, 2), (2, 0), (3, 1)]
    assert isinstance(cycle, Lifecycle)
    assert [(p.new, p.returning, p.resurrecting, p.dormant) for p in cycle.periods] == [
        (2, 0, 0, 0),
        (0, 1, 0, 1),
        (1, 1, 0, 0),
    ]
    span = ["--since", str(DAY1), "--until", str(DAY3)]
    assert cli(served, "stats", "stickiness", *span) == sticky.model_dump(mode="json")
    printed = cli(served, "stats", "lifecycle", *span, "--period", "day", "--event", "view")
    assert [p["new"] for p in printed["periods"]] == [2, 0, 0]


def test_retention_and_where(served: Served) -> None:
    with evana.Client(served.url, served.admin_key) as client:
        recurring = client.stats.retention(
            **SPAN, period="day", periods=3, type="recurring", cumulative=True
        )
        pro_dau = client.stats.dau(**SPAN, where=PRO)
        big = client.stats.top_events(**SPAN, where=BIG)
        wau = client.stats.wau(**SPAN, where=BIG)
        mau = client.stats.mau(**SPAN, where=BIG)
    assert isinstance(recurring, Retention)
    assert [(c.size, c.retained) for c in recurring.cohorts] == [
        (2, [2, 1, 1]),
        (1, [1, 1, None]),
        (2, [2, None, None]),
    ]
    assert isinstance(pro_dau, ActiveUsers)
    assert [row.users for row in pro_dau.series] == [1, 0, 0]
    assert isinstance(big, TopEvents)
    assert [(r.event, r.count, r.users) for r in big.events] == [("purchase", 1, 1)]
    assert [row.users for row in wau.series] == [1, 1, 1]
    assert [row.users for row in mau.series] == [1, 1, 1]
    span = ["--since", str(DAY1), "--until", str(DAY3)]
    printed = cli(
        served,
        "stats",
        "retention",
        *span,
        "--period",
        "day",
        "--periods",
        "3",
        "--type",
        "recurring",
        "--cumulative",
    )
    assert printed == recurring.model_dump(mode="json")
    assert cli(served, "stats", "dau", *span, "--where", "person.plan eq pro") == (
        pro_dau.model_dump(mode="json")
    )


def test_the_async_client_reads_the_same(served: Served) -> None:
    async def main() -> list[Any]:
        async with evana.AsyncClient(served.url, served.admin_key) as client:
            await client.identify("u_3", set_once={"tier": "free"}, timestamp=at(DAY3, 13))
            await client.alias("anon_3", "u_3", timestamp=at(DAY3, 13, 1))
            assert await client.flush(timeout=10)
            return [
                await client.query.trends("purchase", **SPAN),
                await client.query.funnel(["signup", "purchase"], **SPAN, window="1d"),
                await client.stats.stickiness(**SPAN),
                await client.stats.lifecycle(**SPAN, period="day"),
                await client.stats.retention(**SPAN, period="day", periods=3, type="recurring"),
                await client.stats.dau(**SPAN, where=PRO),
                await client.persons.get("anon_3"),
            ]

    trend, funnel, sticky, cycle, retention, dau, person = asyncio.run(main())
    assert [p.value for p in trend.results[0].points] == [1, 0, 1]
    assert funnel.steps[1].users == 1
    assert sticky.days[0].users == 2  # person operations are not activity
    assert cycle.periods[2].new == 1
    assert retention.cohorts[0].size == 2
    assert [row.users for row in dau.series] == [1, 0, 0]
    assert set(person.distinct_ids) == {"anon_3", "u_3"}
    assert person.properties == {"tier": "free"}
