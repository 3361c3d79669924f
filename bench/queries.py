"""Reports at scale: evana's HTTP API (PostgreSQL, and embedded SQLite) against DuckDB in memory.

The same generated raw events go into evana (through its storage layer) and into an in-memory
DuckDB table; each report is timed through evana's HTTP API and as the SQL an expert would write
in DuckDB, in the same run, and the two answers must be identical.

    python -m bench.queries                     # 10M events, 200k users, 90 days
    python -m bench.queries --events 50000 --users 2000 --repeat 2 --skip-sqlite   # CI smoke
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np

from ._evana import PG_SERVER, fresh_postgres, load, loaded, read_key, serve, vacuum
from ._report import print_table, time_call, write_json
from .data import EVENT_NAMES, EventSet, generate

TARGET = 0.1  # evana's time / DuckDB's time, at most


@dataclass(frozen=True)
class Report:
    """One report: its API call and the DuckDB query that answers the same question."""

    name: str
    path: str
    params: dict[str, Any]
    duck: Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], dict[str, Any]]


def _days(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]


def _bounds(params: dict[str, Any], back: int = 0) -> tuple[dt.datetime, dt.datetime]:
    since = dt.date.fromisoformat(params["since"]) - dt.timedelta(days=back)
    until = dt.date.fromisoformat(params["until"]) + dt.timedelta(days=1)
    return dt.datetime.combine(since, dt.time()), dt.datetime.combine(until, dt.time())


def duck_active(
    window: int,
) -> Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], dict[str, Any]]:
    """DAU/WAU/MAU in DuckDB: distinct (day, user) pairs; for a window of several days, a
    running sum over each user's active spans (a range join of days to windows is several
    times slower)."""

    def run(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
        lo, hi = _bounds(params, back=window - 1)
        if window == 1:
            sql = """SELECT CAST(timestamp AS DATE) AS d, count(DISTINCT user_id)
                     FROM events WHERE timestamp >= $lo AND timestamp < $hi GROUP BY d"""
            found = dict(con.execute(sql, {"lo": lo, "hi": hi}).fetchall())
        else:
            # A user active on day d counts on days [d, d + window). Consecutive active days
            # less than `window` apart make one span: +1 where a span starts, -1 the day after
            # it ends, and the running sum of those is each day's distinct count.
            sql = f"""WITH ud AS (SELECT DISTINCT user_id, CAST(timestamp AS DATE) AS d FROM events
                                  WHERE timestamp >= $lo AND timestamp < $hi),
                           gaps AS (SELECT d, d - lag(d) OVER w AS back, lead(d) OVER w - d AS ahead
                                    FROM ud WINDOW w AS (PARTITION BY user_id ORDER BY d)),
                           marks AS (SELECT d AS day, 1 AS n FROM gaps
                                     WHERE back IS NULL OR back > {window}
                                     UNION ALL
                                     SELECT d + {window} AS day, -1 AS n FROM gaps
                                     WHERE ahead IS NULL OR ahead > {window}),
                           steps AS (SELECT day, sum(n) AS n FROM marks GROUP BY day),
                           counts AS (SELECT day, sum(n) OVER (ORDER BY day) AS users FROM steps)
                      SELECT CAST(day AS DATE), CAST(users AS BIGINT) FROM counts
                      WHERE day <= $until::DATE"""
            stepped = con.execute(sql, {"lo": lo, "hi": hi, "until": params["until"]}).fetchall()
            found = {}
            days = _days(
                dt.date.fromisoformat(params["since"]) - dt.timedelta(days=window),
                dt.date.fromisoformat(params["until"]),
            )
            steps, users = dict(stepped), 0
            for day in days:  # the running sum holds between the days where it steps
                users = steps.get(day, users)
                found[day] = users
        days = _days(dt.date.fromisoformat(params["since"]), dt.date.fromisoformat(params["until"]))
        return {
            "since": params["since"],
            "until": params["until"],
            "series": [{"date": d.isoformat(), "users": found.get(d, 0)} for d in days],
        }

    return run


def duck_top(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """Top events in DuckDB: one GROUP BY with a distinct count."""
    lo, hi = _bounds(params)
    rows = con.execute(
        """SELECT event, count(*) AS c, count(DISTINCT user_id) FROM events
           WHERE timestamp >= $lo AND timestamp < $hi GROUP BY event ORDER BY c DESC, event LIMIT $limit""",
        {"lo": lo, "hi": hi, "limit": params["limit"]},
    ).fetchall()
    return {
        "since": params["since"],
        "until": params["until"],
        "events": [{"event": e, "count": c, "users": u} for e, c, u in rows],
    }


def _add(period: str, start: dt.date, k: int) -> dt.date:
    if period == "day":
        return start + dt.timedelta(days=k)
    if period == "week":
        return start + dt.timedelta(weeks=k)
    month = start.month - 1 + k
    return start.replace(year=start.year + month // 12, month=month % 12 + 1)


def _trunc(period: str, day: dt.date) -> dt.date:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def duck_retention(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """First-time retention in DuckDB: each user's first (start) event, then periods of activity."""
    period, periods = params["period"], params["periods"]
    since, until = dt.date.fromisoformat(params["since"]), dt.date.fromisoformat(params["until"])
    _, hi = _bounds(params)
    start_filter = "AND event = $start" if params.get("start_event") else ""
    return_filter = "AND event = $ret" if params.get("return_event") else ""
    args: dict[str, Any] = {"hi": hi, "since": since, "until": until}
    if params.get("start_event"):
        args["start"] = params["start_event"]
    if params.get("return_event"):
        args["ret"] = params["return_event"]
    sql = f"""
        WITH first AS (
            SELECT user_id, CAST(date_trunc('{period}', min(CAST(timestamp AS DATE))) AS DATE) AS cohort
            FROM events WHERE timestamp < $hi {start_filter} GROUP BY user_id),
        cohorts AS (SELECT * FROM first WHERE cohort BETWEEN $since AND $until),
        act AS (
            SELECT DISTINCT user_id, CAST(date_trunc('{period}', CAST(timestamp AS DATE)) AS DATE) AS per
            FROM events WHERE timestamp >= $since AND timestamp < $hi {return_filter})
        SELECT c.cohort, NULL AS per, count(*) FROM cohorts c GROUP BY c.cohort
        UNION ALL
        SELECT c.cohort, a.per, count(*) FROM cohorts c JOIN act a USING (user_id)
        WHERE a.per >= c.cohort GROUP BY c.cohort, a.per"""
    sizes: dict[dt.date, int] = {}
    cells: dict[tuple[dt.date, dt.date], int] = {}
    for cohort, per, n in con.execute(sql, args).fetchall():
        if per is None:
            sizes[cohort] = n
        else:
            cells[(cohort, per)] = n
    starts = sorted({p for d in _days(since, until) if (p := _trunc(period, d)) >= since})
    cohorts = []
    for start in starts:
        retained: list[int | None] = []
        for k in range(periods):
            p = _add(period, start, k)
            retained.append(None if p > until else cells.get((start, p), 0))
        cohorts.append(
            {"cohort": start.isoformat(), "size": sizes.get(start, 0), "retained": retained}
        )
    return {
        "period": period,
        "since": params["since"],
        "until": params["until"],
        "cohorts": cohorts,
    }


def reports(data: EventSet) -> list[Report]:
    """The reports of the performance issue, over the last days of the generated set, then
    over all of it."""
    until = data.last_day
    d30 = {"since": (until - dt.timedelta(days=29)).isoformat(), "until": until.isoformat()}
    w12 = {"since": (until - dt.timedelta(weeks=12)).isoformat(), "until": until.isoformat()}
    m3 = {
        "since": _trunc("month", until - dt.timedelta(days=62)).isoformat(),
        "until": until.isoformat(),
    }
    names = {"start_event": "signup", "return_event": EVENT_NAMES[1]}
    out = [
        Report("DAU 30 days", "dau", d30, duck_active(1)),
        Report("WAU 30 days", "wau", d30, duck_active(7)),
        Report("MAU 30 days", "mau", d30, duck_active(30)),
        Report("top 10 events 30 days", "top-events", {**d30, "limit": 10}, duck_top),
    ]
    for label, window, period, periods in (
        ("weekly retention 12 weeks", w12, "week", 12),
        ("daily retention 30 days", d30, "day", 30),
        ("monthly retention 3 months", m3, "month", 3),
    ):
        params = {**window, "period": period, "periods": periods}
        out.append(Report(label, "retention", params, duck_retention))
        out.append(
            Report(f"{label}, start/return event", "retention", {**params, **names}, duck_retention)
        )
    return out + whole_range(data)


def whole_range(data: EventSet) -> list[Report]:
    """The same reports over every day of the set: the widest unions, and every daily cohort."""
    days = {"since": data.first_day.isoformat(), "until": data.last_day.isoformat()}
    span = len(_days(data.first_day, data.last_day))
    names = {"start_event": "signup", "return_event": EVENT_NAMES[1]}
    weekly = {**days, "period": "week", "periods": (span + 6) // 7 + 1}
    daily = {**days, "period": "day", "periods": 14}
    return [
        Report(f"DAU {span} days", "dau", days, duck_active(1)),
        Report(f"WAU {span} days", "wau", days, duck_active(7)),
        Report(f"MAU {span} days", "mau", days, duck_active(30)),
        Report(f"top 10 events {span} days", "top-events", {**days, "limit": 10}, duck_top),
        Report(f"weekly retention {span} days", "retention", weekly, duck_retention),
        Report(
            f"weekly retention {span} days, start/return event",
            "retention",
            {**weekly, **names},
            duck_retention,
        ),
        Report(f"daily retention {span} days, 14 periods", "retention", daily, duck_retention),
        Report(
            f"daily retention {span} days, 14 periods, start/return event",
            "retention",
            {**daily, **names},
            duck_retention,
        ),
    ]


def duckdb_events(data: EventSet) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the same raw events (event, user_id, UTC timestamp)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register(
        "src",
        {"event_no": data.event.astype(np.int32), "user_no": data.user, "micros": data.micros},
    )
    con.register(
        "names",
        {"event_no": np.arange(len(EVENT_NAMES), dtype=np.int32), "name": np.array(EVENT_NAMES)},
    )
    con.execute(
        """CREATE TABLE events AS
           SELECT n.name AS event, 'user_' || lpad(CAST(s.user_no AS VARCHAR), 7, '0') AS user_id,
                  make_timestamp(s.micros) AS timestamp
           FROM src s JOIN names n USING (event_no) ORDER BY s.micros"""
    )
    con.unregister("src")
    con.unregister("names")
    return con


def run_mode(
    label: str,
    url: str,
    key: str,
    con: duckdb.DuckDBPyConnection,
    data: EventSet,
    repeat: int,
    workdir: Path,
    **env: str,
) -> list[dict[str, Any]]:
    """Time every report through a real ``evana serve`` on ``url`` and in DuckDB."""
    rows = []
    with (
        serve(url, workdir, **env) as api,
        httpx.Client(base_url=api, headers={"X-API-Key": key}, timeout=300) as http,
    ):
        for report in reports(data):

            def call(report: Report = report) -> dict[str, Any]:
                response = http.get(f"/v1/stats/{report.path}", params=report.params)
                response.raise_for_status()
                return response.json()  # type: ignore[no-any-return]

            cold, warm, ours = time_call(call, repeat)
            duck_cold, duck_warm, theirs = time_call(
                lambda report=report: report.duck(con, report.params), repeat
            )
            rows.append(
                {
                    "mode": label,
                    "report": report.name,
                    "params": report.params,
                    "evana_ms": warm,
                    "evana_first_ms": cold,
                    "duckdb_ms": duck_warm,
                    "duckdb_first_ms": duck_cold,
                    "ratio": warm / duck_warm,
                    "meets_target": warm / duck_warm <= TARGET,
                    "identical": ours == theirs,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument(
        "--repeat", type=int, default=5, help="calls per report (the first is reported apart)"
    )
    parser.add_argument(
        "--database", default="evana_bench_queries", help="PostgreSQL database to (re)create"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep an already loaded database of the same size"
    )
    parser.add_argument(
        "--skip-sqlite", action="store_true", help="do not measure embedded SQLite mode"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the figures")
    args = parser.parse_args()

    data = generate(args.events, args.users, args.days)
    print(f"{len(data):,} events, {args.users:,} users, {data.first_day} to {data.last_day}")
    con = duckdb_events(data)
    workdir = Path(tempfile.mkdtemp(prefix="evana-bench-"))
    modes: list[tuple[str, str, dict[str, str]]] = []
    loads = {}
    pg_url = f"{PG_SERVER}/{args.database}"
    if not (args.reuse and loaded(pg_url, len(data))):
        pg_url = fresh_postgres(args.database)
        loads["postgresql"] = load(pg_url, data)
    vacuum(pg_url)
    modes.append(("postgresql", pg_url, {}))
    if not args.skip_sqlite:
        sqlite_url = f"sqlite:///{workdir}/bench.db"
        loads["sqlite"] = load(sqlite_url, data)
        modes.append(("sqlite", sqlite_url, {}))
    for mode, seconds in loads.items():
        print(
            f"loaded into {mode} in {seconds:.1f}s ({len(data) / seconds:,.0f} events/s through EventStore)"
        )

    rows = []
    for label, url, env in modes:
        rows += run_mode(label, url, read_key(url), con, data, args.repeat, workdir, **env)
    print_table(
        f"Reports through evana's HTTP API vs DuckDB in memory ({len(data):,} events; median of {args.repeat - 1} warm calls)",
        [
            "mode",
            "report",
            "evana ms",
            "evana 1st ms",
            "duckdb ms",
            "ratio",
            f"≤ {TARGET}",
            "identical",
        ],
        [
            [
                r["mode"],
                r["report"],
                r["evana_ms"],
                r["evana_first_ms"],
                r["duckdb_ms"],
                r["ratio"],
                "yes" if r["meets_target"] else "NO",
                "yes" if r["identical"] else "NO",
            ]
            for r in rows
        ],
    )
    path = write_json(
        "queries",
        {
            "events": len(data),
            "users": args.users,
            "days": args.days,
            "repeat": args.repeat,
            "load_seconds": loads,
            "target_ratio": TARGET,
            "reports": rows,
        },
        args.json,
    )
    print(f"\nwrote {path}")
    if not all(r["identical"] for r in rows):
        raise SystemExit("evana and DuckDB disagree on some report")


if __name__ == "__main__":
    main()
