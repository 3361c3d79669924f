"""Insights at scale: trends, funnels, stickiness, lifecycle and retention through evana's HTTP
API against DuckDB in memory.

The same generated events, each with a low- (``plan``), a medium- (``country``) and a
high-cardinality (``amount``) property, go into evana (through its storage layer) and into an
in-memory DuckDB table with one typed column per property. evana tracks ``plan`` and
``country`` (``EVANA_INSIGHT_PROPERTIES``), so insights filtered or broken down by one of them
read property rollups, and sums ``amount`` per day (``EVANA_INSIGHT_NUMBERS``); the storage
table reports what those take. Each insight is called through
evana's HTTP API once (the first call, on a server started for the run, reported apart) and then
timed as the median of the warm calls that follow; DuckDB runs the SQL an expert would write
for the same definition (DESIGN.md, "Insights") in the same run. Every figure of both answers
must be identical, or the program exits non-zero. Beside each insight it reports the floor: the
warm time of the least call of the API (a one-day trend of an event never sent, through the key's
lookup and a read transaction), and that floor's ratio to DuckDB's time, the best ratio any
insight could reach on this machine through HTTP; and the time of ``/healthz``, the HTTP exchange
alone.

    python -m bench.insights                                   # 1M events, 40k users, 90 days
    python -m bench.insights --events 10000000 --users 400000  # the issue's size
    python -m bench.insights --events 20000 --users 1000 --repeat 2 --skip-sqlite   # CI smoke
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx

from ._evana import PG_SERVER, fresh_postgres, loaded, read_key, serve, vacuum
from ._insight_data import NUMBERS, TRACKED, duckdb_events, load, properties
from ._report import print_table, time_call, write_json
from .data import EVENT_NAMES, EventSet, generate

#: evana's warm time / DuckDB's, at most (funnels: FUNNEL_TARGET); first calls: COLD_TARGET.
TARGET = 0.1
FUNNEL_TARGET = 0.3
COLD_TARGET = 0.3

Duck = Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Insight:
    """One insight: its HTTP call (GET with query parameters, POST with a JSON body) and the
    DuckDB query answering the same question from the raw events."""

    name: str
    method: str
    path: str
    payload: dict[str, Any]
    duck: Duck
    target: float = TARGET


def _days(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]


def _span(payload: dict[str, Any]) -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    """The payload's dates and the UTC instants [lo, hi) they cover."""
    since, until = dt.date.fromisoformat(payload["since"]), dt.date.fromisoformat(payload["until"])
    lo = dt.datetime.combine(since, dt.time())
    hi = dt.datetime.combine(until + dt.timedelta(days=1), dt.time())
    return since, until, lo, hi


# --- trends -------------------------------------------------------------------------------------

_AGGREGATES = {
    "total": "count(*)",
    "users": "count(DISTINCT user_id)",
    "sum": "sum(amount)",
    "p90": "quantile_disc(amount, 0.9)",  # nearest rank: the value at rank ceil(0.9 n)
}


def duck_trends(con: duckdb.DuckDBPyConnection, body: dict[str, Any]) -> dict[str, Any]:
    """One daily series of one event: a GROUP BY day with the range's total as a grouping set;
    with a breakdown, values ranked by their total and the rest folded into ``$other``."""
    (series,) = body["series"]
    since, until, lo, hi = _span(body)
    math = series["math"]
    agg = _AGGREGATES[math]
    if math in ("sum", "p90"):
        assert series["property"] == "amount"
    args: dict[str, Any] = {"e": series["event"], "lo": lo, "hi": hi}
    where = ""
    for n, f in enumerate(series.get("where", [])):
        assert f["op"] == "eq"
        assert f["key"] in ("plan", "country")
        where += f" AND {f['key']} = $w{n}"
        args[f"w{n}"] = f["value"]
    selected = f"FROM events WHERE event = $e AND timestamp >= $lo AND timestamp < $hi{where}"
    empty = 0 if math in ("total", "users", "sum") else None
    groups: list[tuple[str | None, dict[dt.date, Any], Any]]  # (label, day -> value, total)
    if body.get("breakdown") is None:
        rows = con.execute(
            f"""SELECT CAST(timestamp AS DATE) AS d, {agg} {selected}
                GROUP BY GROUPING SETS ((d), ())""",
            args,
        ).fetchall()
        values = {d: v for d, v in rows if d is not None}
        total = next((v for d, v in rows if d is None), empty)
        groups = [(None, values, total if total is not None else empty)]
    else:
        assert body["breakdown"] == "country"
        args["limit"] = body["breakdown_limit"]
        rows = con.execute(
            f"""WITH b AS (SELECT country AS label, CAST(timestamp AS DATE) AS d, user_id, amount
                           {selected}),
                     ranked AS (SELECT label, row_number() OVER (
                                    ORDER BY {agg} DESC NULLS LAST, label ASC NULLS LAST) AS r
                                FROM b GROUP BY label),
                     labelled AS (SELECT CASE WHEN r <= $limit THEN label ELSE '$other' END AS bucket,
                                         least(r, $limit + 1) AS rank, d, user_id, amount
                                  FROM b JOIN ranked USING (label))
                SELECT bucket, rank, d, {agg} FROM labelled
                GROUP BY GROUPING SETS ((bucket, rank, d), (bucket, rank))
                ORDER BY rank""",
            args,
        ).fetchall()
        by_bucket: dict[str, tuple[int, dict[dt.date, Any], Any]] = {}
        for bucket, rank, d, v in rows:
            _, values, total = by_bucket.setdefault(bucket, (rank, {}, None))
            if d is None:
                by_bucket[bucket] = (rank, values, v)
            else:
                values[d] = v
        groups = [
            (bucket, values, total)
            for bucket, (_, values, total) in sorted(by_bucket.items(), key=lambda kv: kv[1][0])
        ]
    results = [
        {
            "series": 0,
            "event": series["event"],
            "math": math,
            "breakdown": label,
            "points": [
                {"date": d.isoformat(), "value": values.get(d, empty)} for d in _days(since, until)
            ],
            "total": total,
        }
        for label, values, total in groups
    ]
    return {
        "interval": "day",
        "since": body["since"],
        "until": body["until"],
        "results": results,
    }


# --- funnel -------------------------------------------------------------------------------------


def duck_funnel(con: duckdb.DuckDBPyConnection, body: dict[str, Any]) -> dict[str, Any]:
    """An ordered 3-step funnel: from every step-0 event (an entry at t0), ASOF joins take the
    earliest step-1 event at or after t0 and the earliest step-2 event at or after that, each
    kept only within [t0, t0 + window]; a person's level is their best entry's, and the step
    times are those of the earliest entry reaching it."""
    _, _, lo, hi = _span(body)
    a, b, c = (step["event"] for step in body["steps"])
    assert body["order"] == "ordered"
    assert body["window"]["unit"] == "day"
    window_us = body["window"]["value"] * 86_400_000_000
    rows = con.execute(
        """WITH s AS (SELECT event, user_id AS u, epoch_us(timestamp) AS t FROM events
                      WHERE event IN ($a, $b, $c) AND timestamp >= $lo AND timestamp < $hi),
                s0 AS (SELECT u, t AS t0 FROM s WHERE event = $a),
                s1 AS (SELECT u, t FROM s WHERE event = $b),
                s2 AS (SELECT u, t FROM s WHERE event = $c),
                c1 AS (SELECT s0.u, t0, CASE WHEN s1.t <= t0 + $w THEN s1.t END AS t1
                       FROM s0 ASOF LEFT JOIN s1 ON s0.u = s1.u AND s1.t >= s0.t0),
                c2 AS (SELECT c1.u, t0, t1, CASE WHEN s2.t <= t0 + $w THEN s2.t END AS t2
                       FROM c1 ASOF LEFT JOIN s2 ON c1.u = s2.u AND s2.t >= c1.t1),
                entries AS (SELECT u, t0, t1, t2,
                                   1 + (t1 IS NOT NULL)::INT + (t2 IS NOT NULL)::INT AS level
                            FROM c2),
                persons AS (SELECT u, max(level) AS level,
                                   arg_min(t1 - t0, (3 - level) * (1::BIGINT << 52) + t0) AS d1,
                                   arg_min(t2 - t1, (3 - level) * (1::BIGINT << 52) + t0) AS d2
                            FROM entries GROUP BY u)
           SELECT count(*), count(*) FILTER (WHERE level > 1), count(*) FILTER (WHERE level > 2),
                  quantile_disc(d1, 0.5) FILTER (WHERE level > 1),
                  quantile_disc(d2, 0.5) FILTER (WHERE level > 2)
           FROM persons""",
        {"a": a, "b": b, "c": c, "lo": lo, "hi": hi, "w": window_us},
    ).fetchone()
    assert rows is not None
    users, medians = rows[:3], [None, *rows[3:]]
    return {
        "steps": [
            {
                "event": event,
                "users": users[k],
                "conversion": (1.0 if k == 0 else users[k] / users[0]) if users[0] else 0.0,
                "median_seconds": None if medians[k] is None else medians[k] / 1_000_000,
            }
            for k, event in enumerate((a, b, c))
        ]
    }


# --- stickiness, lifecycle, retention -----------------------------------------------------------


def duck_stickiness(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """Distinct active days per user, then users per count of days."""
    since, until, lo, hi = _span(params)
    found = dict(
        con.execute(
            """SELECT k, count(*) FROM (
                   SELECT count(DISTINCT CAST(timestamp AS DATE)) AS k FROM events
                   WHERE event = $e AND timestamp >= $lo AND timestamp < $hi GROUP BY user_id)
               GROUP BY k""",
            {"e": params["event"], "lo": lo, "hi": hi},
        ).fetchall()
    )
    span = (until - since).days + 1
    return {
        "since": params["since"],
        "until": params["until"],
        "days": [{"days_active": k, "users": found.get(k, 0)} for k in range(1, span + 1)],
    }


def duck_lifecycle(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """Daily lifecycle: each user's active days up to ``until`` (all history, for "new"), with
    the previous and next active day from window functions."""
    since, until, _, hi = _span(params)
    assert params["period"] == "day"
    rows = con.execute(
        """WITH ud AS (SELECT DISTINCT user_id AS u, CAST(timestamp AS DATE) AS d FROM events
                       WHERE event = $e AND timestamp < $hi),
                seq AS (SELECT d, lag(d) OVER w AS prev, lead(d) OVER w AS next,
                               min(d) OVER (PARTITION BY u) AS first
                        FROM ud WINDOW w AS (PARTITION BY u ORDER BY d)),
                active AS (SELECT d,
                                  count(*) FILTER (WHERE d = first) AS n_new,
                                  count(*) FILTER (WHERE d > first AND prev = d - 1) AS n_returning,
                                  count(*) FILTER (WHERE d > first AND prev < d - 1) AS n_resurrecting
                           FROM seq WHERE d BETWEEN $since AND $until GROUP BY d),
                gone AS (SELECT d + 1 AS d, count(*) AS n_dormant FROM seq
                         WHERE (next IS NULL OR next > d + 1) AND d + 1 BETWEEN $since AND $until
                         GROUP BY d + 1)
           SELECT d, coalesce(n_new, 0), coalesce(n_returning, 0), coalesce(n_resurrecting, 0),
                  coalesce(n_dormant, 0)
           FROM active FULL JOIN gone USING (d)""",
        {"e": params["event"], "hi": hi, "since": since, "until": until},
    ).fetchall()
    found = {d: counts for d, *counts in rows}
    return {
        "period": "day",
        "since": params["since"],
        "until": params["until"],
        "periods": [
            dict(
                zip(
                    ("date", "new", "returning", "resurrecting", "dormant"),
                    (d.isoformat(), *found.get(d, (0, 0, 0, 0))),
                    strict=True,
                )
            )
            for d in _days(since, until)
        ],
    }


def _cohorts(
    since: dt.date, until: dt.date, periods: int, cells: dict[tuple[dt.date, int], int]
) -> list[dict[str, Any]]:
    """Daily cohorts from (cohort, k) -> persons; ``k = 0`` is the cohort's size."""
    return [
        {
            "cohort": d.isoformat(),
            "size": cells.get((d, 0), 0),
            "retained": [
                None if d + dt.timedelta(days=k) > until else cells.get((d, k), 0)
                for k in range(periods)
            ],
        }
        for d in _days(since, until)
    ]


def duck_recurring(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """Recurring daily retention: a user is in the cohort of every active day; a self-join of the
    distinct (user, day) pairs within ``periods`` days."""
    since, until, lo, hi = _span(params)
    assert params["period"] == "day"
    assert params["type"] == "recurring"
    periods = params["periods"]
    rows = con.execute(
        """WITH ud AS (SELECT DISTINCT user_id AS u, CAST(timestamp AS DATE) AS d FROM events
                       WHERE timestamp >= $lo AND timestamp < $hi)
           SELECT a.d, b.d - a.d AS k, count(*) FROM ud a JOIN ud b
           ON a.u = b.u AND b.d >= a.d AND b.d < a.d + $periods GROUP BY a.d, k""",
        {"lo": lo, "hi": hi, "periods": periods},
    ).fetchall()
    return {
        "period": "day",
        "since": params["since"],
        "until": params["until"],
        "cohorts": _cohorts(since, until, periods, {(d, k): n for d, k, n in rows}),
    }


def duck_cumulative(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """Cumulative first-time daily retention: a user's cohort is their first day ever, and
    cell k counts those whose last active day in the range is at least cohort + k."""
    since, until, lo, hi = _span(params)
    assert params["period"] == "day"
    assert params["cumulative"] == "true"
    periods = params["periods"]
    cells = ", ".join(f"count(*) FILTER (WHERE last - first >= {k})" for k in range(periods))
    rows = con.execute(
        f"""WITH first AS (SELECT user_id, min(CAST(timestamp AS DATE)) AS first FROM events
                           WHERE timestamp < $hi GROUP BY user_id),
                 last AS (SELECT user_id, max(CAST(timestamp AS DATE)) AS last FROM events
                          WHERE timestamp >= $lo AND timestamp < $hi GROUP BY user_id)
            SELECT first, {cells} FROM first JOIN last USING (user_id)
            WHERE first >= $since GROUP BY first""",
        {"lo": lo, "hi": hi, "since": since},
    ).fetchall()
    found = {(d, k): n for d, *counts in rows for k, n in enumerate(counts)}
    return {
        "period": "day",
        "since": params["since"],
        "until": params["until"],
        "cohorts": _cohorts(since, until, periods, found),
    }


def insights(data: EventSet, days: int) -> list[Insight]:
    """The insights of the issue, over the last ``days`` days of the generated set, all on its
    most frequent event (the heaviest case: about a quarter of all events)."""
    until = data.last_day
    span = {"since": (until - dt.timedelta(days=days - 1)).isoformat(), "until": until.isoformat()}
    event = EVENT_NAMES[1]

    def trends(math: str, **extra: Any) -> dict[str, Any]:
        series: dict[str, Any] = {"event": event, "math": math}
        if math in ("sum", "p90"):
            series["property"] = "amount"
        if "where" in extra:
            series["where"] = extra.pop("where")
        return {**span, "interval": "day", "series": [series], **extra}

    funnel = {
        **span,
        "steps": [{"event": name} for name in EVENT_NAMES[1:4]],
        "window": {"value": 1, "unit": "day"},
        "order": "ordered",
    }
    retention = {**span, "period": "day", "periods": 14}
    return [
        Insight("trends total/day", "POST", "/v1/query/trends", trends("total"), duck_trends),
        Insight("trends users/day", "POST", "/v1/query/trends", trends("users"), duck_trends),
        Insight(
            "trends total, plan = pro",
            "POST",
            "/v1/query/trends",
            trends("total", where=[{"key": "plan", "op": "eq", "value": "pro"}]),
            duck_trends,
        ),
        Insight(
            "trends total by country, top 10",
            "POST",
            "/v1/query/trends",
            trends("total", breakdown="country", breakdown_limit=10),
            duck_trends,
        ),
        Insight("trends sum(amount)", "POST", "/v1/query/trends", trends("sum"), duck_trends),
        Insight("trends p90(amount)", "POST", "/v1/query/trends", trends("p90"), duck_trends),
        Insight(
            "funnel 3 steps, 1 day",
            "POST",
            "/v1/query/funnel",
            funnel,
            duck_funnel,
            FUNNEL_TARGET,
        ),
        Insight(
            "stickiness", "GET", "/v1/stats/stickiness", {**span, "event": event}, duck_stickiness
        ),
        Insight(
            "lifecycle (day)",
            "GET",
            "/v1/stats/lifecycle",
            {**span, "period": "day", "event": event},
            duck_lifecycle,
        ),
        Insight(
            "retention recurring (day, 14)",
            "GET",
            "/v1/stats/retention",
            {**retention, "type": "recurring"},
            duck_recurring,
        ),
        Insight(
            "retention cumulative (day, 14)",
            "GET",
            "/v1/stats/retention",
            {**retention, "cumulative": "true"},
            duck_cumulative,
        ),
    ]


# --- running ------------------------------------------------------------------------------------


#: The rollup tables whose whole size (rows, TOAST, indexes) the storage figures report.
_ROLLUP_TABLES = ("rollups", "property_rollups", "number_rollups", "event_times")


def storage(url: str, events: int) -> dict[str, Any]:
    """Bytes the events take in ``url``: the table (with PostgreSQL's TOAST), its indexes, both
    per million events, each rollup table with its indexes (``rollups``; ``property_rollups``,
    the tracked properties' values), and the whole database."""
    from sqlalchemy import text

    from evana.server._storage import Database

    db = Database(url)
    table: int | None
    indexes: int | None
    tables: dict[str, int | None] = dict.fromkeys(_ROLLUP_TABLES)
    try:
        with db.read() as conn:
            if url.startswith("sqlite"):
                whole = os.path.getsize(url.split("///", 1)[1])
                try:
                    # dbstat counts the pages of each table and index (when SQLite has it).
                    table, indexes = conn.execute(
                        text(
                            "SELECT sum(pgsize) FILTER (WHERE name = 'events'),"
                            " sum(pgsize) FILTER (WHERE name <> 'events') FROM dbstat"
                            " WHERE name = 'events' OR name IN (SELECT name FROM sqlite_master"
                            " WHERE type = 'index' AND tbl_name = 'events')"
                        )
                    ).one()
                    for name in _ROLLUP_TABLES:
                        tables[name] = conn.execute(
                            text(
                                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN"
                                " (SELECT name FROM sqlite_master WHERE tbl_name = :t)"
                            ),
                            {"t": name},
                        ).scalar_one()
                except Exception:
                    table = indexes = None
            else:
                table, indexes, whole = conn.execute(
                    text(
                        "SELECT pg_table_size('events'), pg_indexes_size('events'),"
                        " pg_database_size(current_database())"
                    )
                ).one()
                for name in _ROLLUP_TABLES:
                    tables[name] = conn.execute(
                        text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": name}
                    ).scalar_one()
            # What the event times hold, apart from the space compaction's rewrites leave in
            # the table's files (reused by later rows, not given back to the disk).
            live = conn.execute(
                text("SELECT coalesce(sum(length(times)), 0) FROM event_times")
            ).scalar_one()
    finally:
        db.dispose()
    millions = events / 1e6

    def per_million(value: int | None) -> float | None:
        return None if value is None else value / 2**20 / millions

    return {
        "events_table_bytes": table,
        "events_index_bytes": indexes,
        "database_bytes": whole,
        "events_table_mib_per_million": per_million(table),
        "events_index_mib_per_million": per_million(indexes),
        **{f"{name}_bytes": tables[name] for name in _ROLLUP_TABLES},
        **{f"{name}_mib_per_million": per_million(tables[name]) for name in _ROLLUP_TABLES},
        "event_times_live_bytes": live,
        "event_times_live_mib_per_million": per_million(live),
    }


@contextlib.contextmanager
def insight_api(url: str, workdir: Path) -> Iterator[httpx.Client]:
    """A client of a real ``evana serve`` on ``url`` with :data:`TRACKED` properties and
    :data:`NUMBERS` tracked, holding a new read key."""
    key = read_key(url)
    with (
        serve(
            url,
            workdir,
            EVANA_INSIGHT_PROPERTIES=",".join(TRACKED),
            EVANA_INSIGHT_NUMBERS=",".join(NUMBERS),
        ) as api,
        httpx.Client(base_url=api, headers={"X-API-Key": key}, timeout=600) as http,
    ):
        yield http


def run_mode(
    label: str,
    url: str,
    con: duckdb.DuckDBPyConnection,
    todo: list[Insight],
    repeat: int,
    workdir: Path,
) -> list[dict[str, Any]]:
    """Time every insight through a real ``evana serve`` on ``url``, then in DuckDB.

    Each system is timed alone: every evana call while DuckDB is idle, then every DuckDB
    query once the server is stopped, so neither runs beside the other's after-effects. (On
    a 10M run the ratios came out much as when interleaved: trends 0.29-0.64x against
    0.47-0.61x, the funnel 0.20x against 0.21x; both systems moved with the machine.)
    """
    ours: list[tuple[float, float, Any]] = []
    with insight_api(url, workdir) as http:
        before = _floor(http, todo, repeat)
        for insight in todo:

            def call(insight: Insight = insight) -> dict[str, Any]:
                if insight.method == "POST":
                    response = http.post(insight.path, json=insight.payload)
                else:
                    response = http.get(insight.path, params=insight.payload)
                response.raise_for_status()
                return response.json()  # type: ignore[no-any-return]

            ours.append(time_call(call, repeat))
        # Once more after the insights, and the lower of the two: right after the server
        # starts, the floor once came out above the warm time of a trend that does more.
        after = _floor(http, todo, repeat)
        floor, health = min(before[0], after[0]), min(before[1], after[1])
    rows = []
    for insight, (cold, warm, answer) in zip(todo, ours, strict=True):
        duck_cold, duck_warm, theirs = time_call(
            functools.partial(insight.duck, con, insight.payload), repeat
        )
        identical = answer == theirs
        if not identical:
            _explain(label, insight, answer, theirs)
        rows.append(
            {
                "mode": label,
                "insight": insight.name,
                "path": insight.path,
                "payload": insight.payload,
                "evana_ms": warm,
                "evana_first_ms": cold,
                "duckdb_ms": duck_warm,
                "duckdb_first_ms": duck_cold,
                "ratio": warm / duck_warm,
                "floor_ms": floor,
                "floor_ratio": floor / duck_warm,
                "healthz_ms": health,
                "first_ratio": cold / duck_warm,
                "target": insight.target,
                "meets_target": warm / duck_warm <= insight.target,
                "first_meets_target": cold / duck_warm <= COLD_TARGET,
                "identical": identical,
            }
        )
        print(
            f"  {label:10} {insight.name:32} evana {warm:9.1f} ms (first {cold:9.1f})"
            f"  duckdb {duck_warm:8.1f} ms  floor {floor:6.1f} ms  /healthz {health:5.1f} ms"
            f"  {'identical' if identical else 'DIFFERENT'}",
            flush=True,
        )
    return rows


#: An event name no generated event has: a trend of it reads rows that are not there.
_NO_EVENT = "bench_never_sent"


def _floor(http: httpx.Client, todo: list[Insight], repeat: int) -> tuple[float, float]:
    """The median warm times (ms) of the least an insight call does, and of ``/healthz``.

    The first is a trend of an event never sent, over one day: HTTP, the key's lookup, a
    read transaction, one read that finds nothing and the answer's JSON (a count of events
    reads no persons). No insight through the API takes less, so one whose DuckDB time is under ``floor /
    target`` cannot meet its target here, whatever evana computes. ``/healthz`` (no key, no
    database) is what the HTTP exchange alone costs. :func:`run_mode` measures both before
    and after the insights and keeps the lower."""
    day = min(i.payload["since"] for i in todo)
    body = {
        "since": day,
        "until": day,
        "series": [{"event": _NO_EVENT, "math": "total"}],
    }

    def call() -> None:
        http.post("/v1/query/trends", json=body).raise_for_status()

    _, warm, _ = time_call(call, max(repeat, 50))
    _, health, _ = time_call(lambda: http.get("/healthz").raise_for_status(), max(repeat, 50))
    return warm, health


def _explain(label: str, insight: Insight, ours: Any, theirs: Any, path: str = "") -> None:
    """Print where two answers first differ (the first few places)."""
    shown = 0

    def walk(a: Any, b: Any, at: str) -> None:
        nonlocal shown
        if shown >= 5 or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
            for k in a:
                walk(a[k], b[k], f"{at}.{k}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{at}[{i}]")
        else:
            shown += 1
            print(f"  MISMATCH {label} / {insight.name} at {at or '.'}: evana {a!r}, duckdb {b!r}")

    walk(ours, theirs, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--users", type=int, default=None, help="default: one per 25 events (400k at 10M)"
    )
    parser.add_argument("--days", type=int, default=90, help="days of generated events")
    parser.add_argument("--range", type=int, default=30, help="days each insight covers")
    parser.add_argument(
        "--repeat", type=int, default=6, help="calls per insight (the first is reported apart)"
    )
    parser.add_argument(
        "--database", default="evana_bench_insights", help="PostgreSQL database to (re)create"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep an already loaded database of the same size"
    )
    parser.add_argument(
        "--skip-sqlite", action="store_true", help="do not measure embedded SQLite mode"
    )
    parser.add_argument(
        "--chunk", type=int, default=100_000, help="events per write of the storage layer's load"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the figures")
    args = parser.parse_args()

    users = args.users or max(args.events // 25, 100)
    data = generate(args.events, users, args.days)
    props = properties(data)
    print(f"{len(data):,} events, {users:,} users, {data.first_day} to {data.last_day}")
    con = duckdb_events(data, props)
    duck_bytes = con.execute("SELECT memory_usage_bytes FROM duckdb_memory()").fetchall()
    workdir = Path(tempfile.mkdtemp(prefix="evana-bench-"))
    modes: list[tuple[str, str]] = []
    loads: dict[str, float] = {}
    pg_url = f"{PG_SERVER}/{args.database}"
    if not (args.reuse and loaded(pg_url, len(data), [*TRACKED, *NUMBERS])):
        pg_url = fresh_postgres(args.database)
        loads["postgresql"] = load(pg_url, data, props, args.chunk)
    modes.append(("postgresql", pg_url))
    if not args.skip_sqlite:
        sqlite_url = f"sqlite:///{workdir}/bench.db"
        loads["sqlite"] = load(sqlite_url, data, props, args.chunk)
        modes.append(("sqlite", sqlite_url))
    for _, url in modes:
        vacuum(url)
    for mode, seconds in loads.items():
        print(f"loaded into {mode} in {seconds:.1f}s ({len(data) / seconds:,.0f} events/s)")
    sizes = {mode: storage(url, len(data)) for mode, url in modes}

    todo = insights(data, args.range)
    rows = []
    for label, url in modes:
        rows += run_mode(label, url, con, todo, args.repeat, workdir)
    _print(rows, len(data), args.repeat, sizes, sum(n for (n,) in duck_bytes))
    for mode, size in sizes.items():
        print(
            f"{mode}: event times hold {size['event_times_live_mib_per_million']:.1f} MiB per"
            f" million events ({size['event_times_mib_per_million']:.1f} MiB with free space)"
        )
    path = write_json(
        "insights",
        {
            "events": len(data),
            "users": users,
            "days": args.days,
            "range_days": args.range,
            "repeat": args.repeat,
            "load_seconds": loads,
            "storage": sizes,
            "duckdb_memory_bytes": sum(n for (n,) in duck_bytes),
            "target_ratio": TARGET,
            "funnel_target_ratio": FUNNEL_TARGET,
            "first_call_target_ratio": COLD_TARGET,
            "insights": rows,
        },
        args.json,
    )
    print(f"\nwrote {path}")
    if not all(r["identical"] for r in rows):
        raise SystemExit("evana and DuckDB disagree on some insight")


def _print(
    rows: list[dict[str, Any]],
    events: int,
    repeat: int,
    sizes: dict[str, dict[str, Any]],
    duck_bytes: int,
) -> None:
    print_table(
        f"Insights through evana's HTTP API vs DuckDB in memory ({events:,} events;"
        f" median of {repeat - 1} warm calls; first = the first call)",
        [
            "mode",
            "insight",
            "evana ms",
            "evana 1st ms",
            "duckdb ms",
            "ratio",
            "floor ms",
            "floor ratio",
            "1st ratio",
            "target",
            "met",
            f"1st ≤ {COLD_TARGET}",
            "identical",
        ],
        [
            [
                r["mode"],
                r["insight"],
                r["evana_ms"],
                r["evana_first_ms"],
                r["duckdb_ms"],
                r["ratio"],
                r["floor_ms"],
                r["floor_ratio"],
                r["first_ratio"],
                r["target"],
                "yes" if r["meets_target"] else "NO",
                "yes" if r["first_meets_target"] else "NO",
                "yes" if r["identical"] else "NO",
            ]
            for r in rows
        ],
    )

    def mib(value: int | None, per: float = 1.0) -> Any:
        return "n/a" if value is None else value / 2**20 / per

    millions = events / 1e6
    print_table(
        f"Storage ({events:,} events)",
        [
            "store",
            "events table MiB",
            "per 1M events",
            "its indexes MiB",
            "per 1M events",
            "rollups MiB",
            "per 1M events",
            "property_rollups MiB",
            "per 1M events",
            "number_rollups MiB",
            "per 1M events",
            "event_times MiB",
            "per 1M events",
            "database MiB",
        ],
        [
            [
                mode,
                mib(s["events_table_bytes"]),
                mib(s["events_table_bytes"], millions),
                mib(s["events_index_bytes"]),
                mib(s["events_index_bytes"], millions),
                mib(s["rollups_bytes"]),
                mib(s["rollups_bytes"], millions),
                mib(s["property_rollups_bytes"]),
                mib(s["property_rollups_bytes"], millions),
                mib(s["number_rollups_bytes"]),
                mib(s["number_rollups_bytes"], millions),
                mib(s["event_times_bytes"]),
                mib(s["event_times_bytes"], millions),
                mib(s["database_bytes"]),
            ]
            for mode, s in sizes.items()
        ]
        + [["duckdb (in memory)", mib(duck_bytes), mib(duck_bytes, millions), *[""] * 11]],
    )


if __name__ == "__main__":
    main()
