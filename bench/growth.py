"""Growth: do reports and ingest slow down as stored history grows?

Starts from the database ``bench/insights.py`` loaded (10M events over the 90 days ending on
``bench.data.LAST_DAY``, with ``plan`` and ``country`` tracked and ``amount`` kept per day), times
every insight and report of the last 30 days through a real ``evana serve``, then adds older
history in stages — as many events a day (111k at 10M), on days before the first, by users who
are not active in the last 90 days — and times them all again at each size. The reports cover
the same 30 days throughout, so their answers must stay identical (the program exits non-zero
otherwise), and any slowdown is what the extra history costs. The ingest rate is measured
while each stage loads (through evana's storage layer, properties tracked, as the insights
benchmark loads, by ``--loaders`` processes side by side: events over the stage's wall-clock
time, data generation included), and at each size end to end: ``--ingest-events`` new events (on days after
the last, so no report changes) sent over HTTP to ``evana serve``, through NATS JetStream to
``evana worker`` processes, timed until the reports count them all. Before history is added
the starting database is copied (``--base-copy``); at the end the copy and the grown database
are measured again in turn, twice (copy, grown, grown, copy), reports and end-to-end ingest,
so that the largest size is compared with the first by the same code on the same quiet machine,
each by the better of its two rounds. ``--compare-only`` does that last step alone, later,
with the version of evana installed then (it migrates both databases first, and reports how
long that took).

    python -m bench.insights --events 10000000 --users 400000    # the starting database
    python -m bench.growth --stages 40000000,50000000             # 10M -> 50M -> 100M
    python -m bench.growth --compare-only          # both again, with this version of evana
    python -m bench.insights --events 20000 --users 1000 --skip-sqlite    # CI smoke, then
    python -m bench.growth --base-events 20000 --base-users 1000 --stages 10000 --repeat 2
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime as dt
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from evana.server._storage import Database, EventStore, add_months, partition_events

from ._evana import PG_SERVER, vacuum
from ._insight_data import properties, write_all
from ._report import print_table, time_call, write_json
from .data import EventSet, generate
from .insights import insight_api, insights

#: Days of history one generated chunk covers (its users are its own).
CHUNK_DAYS = 45
DAY_MICROS = 86_400_000_000


def _reports(data: EventSet, days: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The reports of the last ``days`` days: (name, path, query parameters)."""
    since = (data.last_day - dt.timedelta(days=days - 1)).isoformat()
    until = data.last_day.isoformat()
    span = {"since": since, "until": until}
    return [
        ("DAU", "/v1/stats/dau", span),
        ("WAU", "/v1/stats/wau", span),
        ("MAU", "/v1/stats/mau", span),
        ("top events", "/v1/stats/top-events", {**span, "limit": 10}),
        ("retention (day, 14)", "/v1/stats/retention", {**span, "period": "day", "periods": 14}),
    ]


def _request(
    method: str, path: str, payload: dict[str, Any]
) -> Callable[[httpx.Client], httpx.Response]:
    """A call of the API: a POST with a JSON body, or a GET with query parameters."""

    def call(http: httpx.Client) -> httpx.Response:
        if method == "POST":
            return http.post(path, json=payload)
        return http.get(path, params=payload)

    return call


def measure(url: str, base: EventSet, repeat: int, workdir: Path) -> list[dict[str, Any]]:
    """Time every insight and report of the last 30 days through ``evana serve``."""
    calls: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = []
    for insight in insights(base, 30):
        calls.append((insight.name, _request(insight.method, insight.path, insight.payload)))
    for name, path, params in _reports(base, 30):
        calls.append((name, _request("GET", path, params)))
    rows = []
    with insight_api(url, workdir) as http:
        for name, call in calls:

            def once(call: Callable[[httpx.Client], httpx.Response] = call) -> Any:
                response = call(http)
                response.raise_for_status()
                return response.json()

            first, warm, answer = time_call(once, repeat)
            rows.append({"name": name, "ms": warm, "first_ms": first, "answer": answer})
            print(f"  {name:34} {warm:9.1f} ms (first {first:9.1f})", flush=True)
    return rows


def _days_ending(events: int, days: int, end: dt.date, first_user: int, seed: int) -> EventSet:
    """``events`` events over ``days`` days ending on ``end``, by users of their own numbered
    from ``first_user``."""
    data = generate(events, max(events // 25, 100), days, seed=seed)
    offset = (end - data.last_day).days
    return dataclasses.replace(
        data,
        micros=data.micros + offset * DAY_MICROS,
        user=data.user + np.int32(first_user),
        first_day=data.first_day + dt.timedelta(days=offset),
        last_day=end,
    )


def _older_end(chunk: int, first_day: dt.date) -> dt.date:
    """The last day of chunk ``chunk`` of older history (chunk 0 ends the day before
    ``first_day``; each chunk is CHUNK_DAYS days)."""
    return first_day - dt.timedelta(days=1 + chunk * CHUNK_DAYS)


def _older(chunk: int, first_day: dt.date, per_day: int) -> EventSet:
    """Chunk ``chunk`` of older history: CHUNK_DAYS days of ``per_day`` events ending the day
    before ``first_day`` minus ``chunk`` chunks, by users numbered from 10M + chunk * 1M."""
    end = _older_end(chunk, first_day)
    users = 10_000_000 + chunk * 1_000_000
    return _days_ending(per_day * CHUNK_DAYS, CHUNK_DAYS, end, users, 1000 + chunk)


#: End-to-end ingests go to this many 5-day windows after the last day, in turn (never to
#: days the reports cover, nor more than a day ahead of now: the API refuses those).
NEW_WINDOWS = 6


def _newer(stage: int, events: int, last_day: dt.date) -> EventSet:
    """Events for the end-to-end ingest at ``stage``: 5 days after ``last_day`` (the next 5
    per stage, in turn among :data:`NEW_WINDOWS`), by users numbered from 50M + stage * 1M."""
    end = last_day + dt.timedelta(days=5 * (stage % NEW_WINDOWS + 1))
    return _days_ending(events, 5, end, 50_000_000 + stage * 1_000_000, 3000 + stage)


def end_to_end(
    url: str, stage: int, args: argparse.Namespace, workdir: Path, last_day: dt.date
) -> dict[str, Any]:
    """Ingest ``args.ingest_events`` new events into ``url`` through the production path."""
    from .ingest import evana_path

    data = _newer(stage, args.ingest_events, last_day)
    options = argparse.Namespace(
        nats_url=args.nats_url,
        batch=1000,
        properties=True,
        workers=args.workers,
        worker_concurrency=2,
        senders=8,
    )
    result = evana_path(data, options, workdir, tracked="plan,country", url=url)
    print(
        f"  end to end: {len(data):,} events at {result['events_per_second']:,.0f} events/s"
        f" (exact: {result['exact']})",
        flush=True,
    )
    kept = ("events", "seconds", "events_per_second", "exact", "cpu_us_per_event")
    return {key: result[key] for key in kept}


def copy_database(source: str, target: str) -> str:
    """Copy PostgreSQL database ``source`` to ``target`` (replaced); return its URL."""
    import psycopg

    admin = PG_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    return f"{PG_SERVER}/{target}"


def _load_chunk(job: tuple[str, int, dt.date, int, int]) -> tuple[int, int, str, float]:
    """Store chunk ``job[1]`` of older history in ``job[0]``, ``job[4]`` events a write;
    return (chunk, events, its days, seconds writing)."""
    url, chunk, first_day, per_day, size = job
    db = Database(url)
    try:
        data = _older(chunk, first_day, per_day)
        took = write_all(EventStore(db), data, properties(data, seed=2000 + chunk), size)
    finally:
        db.dispose()
    return chunk, len(data), f"{data.first_day} to {data.last_day}", took


def grow(
    url: str,
    events: int,
    first_chunk: int,
    first_day: dt.date,
    per_day: int,
    loaders: int = 1,
    size: int = 100_000,
    partitioned: bool = False,
) -> tuple[float, int]:
    """Store ``events`` more events of older history (whole chunks), ``loaders`` processes
    at a time (chunks share no user and no day, so they load side by side); return (events
    per second of the whole stage, data generation included, and the next chunk); ``size``
    events a write; ``partitioned``: add the month partitions of ``events`` it needs first."""
    count = -(-events // (per_day * CHUNK_DAYS))
    if partitioned:
        # An installation partitioned from its start has had each month's partition since
        # that month: make those of the older history before it is stored.
        last = _older_end(first_chunk, first_day)
        first = _older_end(first_chunk + count - 1, first_day) - dt.timedelta(CHUNK_DAYS - 1)
        db = Database(url)
        try:
            days = (first + dt.timedelta(n) for n in range((last - first).days + 1))
            added = add_months(db, days)
        finally:
            db.dispose()
        print(f"  partitions added: {', '.join(added) or 'none'}", flush=True)
    jobs = [
        (url, chunk, first_day, per_day, size) for chunk in range(first_chunk, first_chunk + count)
    ]
    stored = 0
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(
        loaders, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        for chunk, written, span, took in pool.map(_load_chunk, jobs):
            stored += written
            print(
                f"  chunk {chunk}: {written:,} events, {span}, {written / took:,.0f} events/s"
                " in its loader",
                flush=True,
            )
    return stored / (time.perf_counter() - start), first_chunk + count


def _count(url: str) -> tuple[int, bool]:
    """How many events ``url`` stores, and whether they are partitioned by month."""
    from sqlalchemy import text

    from evana.server._storage._partitions import is_partitioned

    db = Database(url)
    try:
        with db.read() as conn:
            count = int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
            return count, is_partitioned(conn)
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="evana_bench_insights")
    parser.add_argument(
        "--stages", default="40000000,50000000", help="events added per stage, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=6)
    parser.add_argument(
        "--base-events", type=int, default=10_000_000, help="the starting database's events"
    )
    parser.add_argument("--base-users", type=int, default=400_000)
    parser.add_argument(
        "--ingest-events",
        type=int,
        default=500_000,
        help="events sent end to end at each size (0: none)",
    )
    parser.add_argument("--workers", type=int, default=2, help="evana worker processes")
    parser.add_argument(
        "--loaders", type=int, default=2, help="processes storing older history side by side"
    )
    parser.add_argument(
        "--nats-url", default=os.environ.get("EVANA_BENCH_NATS", "nats://127.0.0.1:4222")
    )
    parser.add_argument(
        "--base-copy",
        default="evana_bench_growth_base",
        help="copy of the starting database, measured beside the largest at the end ('': none)",
    )
    parser.add_argument(
        "--chunk", type=int, default=100_000, help="events per write of the storage layer's load"
    )
    parser.add_argument(
        "--compare-only",
        action="store_true",
        help="load nothing: migrate the grown database and its --base-copy to this version of"
        " evana, then measure them again one after the other",
    )
    parser.add_argument(
        "--new-days",
        type=int,
        default=None,
        help="with --compare-only: which 5 new days the first round's end-to-end events go to"
        " (a number; the second round's are the next; each rerun needs two more; default: the"
        " first after the run that grew it)",
    )
    parser.add_argument(
        "--partition",
        action="store_true",
        help="partition the starting database's events by month first (evana db partition),"
        " and give older history the partitions of its months before storing it",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    url = f"{PG_SERVER}/{args.database}"
    base = generate(args.base_events, args.base_users, 90)
    per_day = args.base_events // 90
    workdir = Path(tempfile.mkdtemp(prefix="evana-growth-"))
    stages: list[dict[str, Any]] = []

    same_run: dict[str, Any] = {}

    def record(added_rate: float | None) -> None:
        vacuum(url)
        stored, partitioned = _count(url)
        print(f"{stored:,} events stored{', partitioned' * partitioned}", flush=True)
        rows = measure(url, base, args.repeat, workdir)
        if not stages and args.base_copy:
            copy_database(args.database, args.base_copy)
        e2e = None
        if args.ingest_events:
            e2e = end_to_end(url, len(stages), args, workdir, base.last_day)
        stages.append(
            {
                "events": stored,
                "partitioned": partitioned,
                "ingest_events_per_second": added_rate,
                "end_to_end": e2e,
                "rows": rows,
            }
        )
        first = stages[0]["rows"]
        for row, then in zip(rows, first, strict=True):
            row["identical_to_first"] = row["answer"] == then["answer"]
            row["ratio_to_first"] = row["ms"] / then["ms"]
        save()

    def save() -> None:
        summary = [{k: v for k, v in s.items() if k != "rows"} for s in stages]
        results = [
            {
                "events": s["events"],
                "rows": [{k: v for k, v in r.items() if k != "answer"} for r in s["rows"]],
            }
            for s in stages
        ]
        write_json(
            "growth",
            {"per_day": per_day, "stages": summary, "results": results, "same_run": same_run},
            args.json,
        )

    if args.compare_only:
        migrate_both(url, f"{PG_SERVER}/{args.base_copy}", same_run)
        # New end-to-end days: after those of the stages and of the run that grew it.
        later = args.new_days or len(args.stages.split(",")) + 3
        compare_in_one_run(url, args, base, workdir, later, same_run)
        write_json("growth_compare", {"per_day": per_day, "same_run": same_run}, args.json)
        return
    if args.partition:
        db = Database(url)
        try:
            start = time.perf_counter()
            partition_events(db, dt.datetime.now(dt.UTC).date())
            print(f"partitioned events by month in {time.perf_counter() - start:.1f}s", flush=True)
        finally:
            db.dispose()
    record(None)
    chunk = 0
    for added in (int(n) for n in args.stages.split(",")):
        rate, chunk = grow(
            url, added, chunk, base.first_day, per_day, args.loaders, args.chunk, args.partition
        )
        record(rate)
    names = [r["name"] for r in stages[0]["rows"]]
    print_table(
        "Latency of the last 30 days' insights and reports as history grows (warm ms)",
        ["insight", *(f"{s['events'] / 1e6:.0f}M" for s in stages), "last / first"],
        [
            [
                name,
                *(f"{s['rows'][i]['ms']:.1f}" for s in stages),
                f"{stages[-1]['rows'][i]['ms'] / stages[0]['rows'][i]['ms']:.2f}",
            ]
            for i, name in enumerate(names)
        ],
    )
    rates = [f"{s['ingest_events_per_second'] or 0:,.0f}" for s in stages[1:]]
    print(
        f"ingest while growing (events/s, storage layer, {args.loaders} loaders):",
        ", ".join(rates),
    )
    if args.base_copy and len(stages) > 1:
        compare_in_one_run(url, args, base, workdir, len(stages), same_run)
        save()  # once more, with the comparison in it
    if not all(r["identical_to_first"] for s in stages for r in s["rows"]):
        raise SystemExit("an answer changed as history grew")


def migrate_both(url: str, copy: str, out: dict[str, Any]) -> None:
    """Bring both databases to this version's schema (timed: a migration may rewrite rows)."""
    from evana.server._storage import upgrade

    for target in (copy, url):
        db = Database(target)
        try:
            start = time.perf_counter()
            upgrade(db)
            took = time.perf_counter() - start
        finally:
            db.dispose()
        out.setdefault("migration_seconds", []).append(took)
        print(f"migrated {target.rsplit('/', 1)[-1]} in {took:.1f}s", flush=True)


def compare_in_one_run(
    url: str,
    args: argparse.Namespace,
    base: EventSet,
    workdir: Path,
    stage: int,
    out: dict[str, Any],
) -> None:
    """Measure the copy of the starting database and the grown one again, in turn and twice
    (copy, grown, grown, copy), reports and end-to-end ingest; each figure is the better of a
    database's two rounds.

    The same new events go into both in each round (those of ``stage``, then ``stage + 1``).
    Two rounds in that order, rather than one each: with one, the grown database's end-to-end
    ingest once ran at 0.62x the copy's while the API, which never touches the database, took
    1.4x its CPU per event, the machine's drift, which one round per database cannot tell from
    the cost of size; and the first writes into a database just vacuumed find the indexes they
    touch out of memory, where a running installation, writing the current days all day, keeps
    them there."""
    copy = f"{PG_SERVER}/{args.base_copy}"
    targets = (copy, url)
    sizes, partitioned = [], []
    for target in targets:
        vacuum(target)
        stored, by_month = _count(target)
        sizes.append(stored)
        partitioned.append(by_month)
    rounds: list[dict[str, list[dict[str, Any]]]] = [{}, {}]
    ingest: list[list[dict[str, Any]]] = [[], []]
    for turn, which in enumerate((0, 1, 1, 0)):
        print(
            f"same run, round {turn // 2 + 1}: {sizes[which]:,} events stored"
            f"{', partitioned' * partitioned[which]}",
            flush=True,
        )
        for row in measure(targets[which], base, args.repeat, workdir):
            rounds[which].setdefault(row["name"], []).append(row)
        if args.ingest_events:
            new_days = stage + turn // 2
            ingest[which].append(end_to_end(targets[which], new_days, args, workdir, base.last_day))
    rows = []
    for name, mine in rounds[0].items():
        theirs = rounds[1][name]
        a, b = (min(runs, key=lambda r: r["ms"]) for runs in (mine, theirs))
        rows.append(
            {
                "name": name,
                "first_ms": a["ms"],
                "last_ms": b["ms"],
                "ratio": b["ms"] / a["ms"],
                "identical": all(r["answer"] == a["answer"] for r in mine + theirs),
                "rounds_ms": [[r["ms"] for r in mine], [r["ms"] for r in theirs]],
            }
        )
    out.update({"events": sizes, "partitioned": partitioned, "rows": rows, "end_to_end": ingest})
    if args.ingest_events:
        best = [max(runs, key=lambda r: r["events_per_second"]) for runs in ingest]
        out["end_to_end_ratio"] = best[1]["events_per_second"] / best[0]["events_per_second"]
    print_table(
        f"Same run: {sizes[0] / 1e6:.1f}M against {sizes[1] / 1e6:.1f}M stored events"
        " (warm ms, the better of two rounds each)",
        ["insight", "first", "last", "last / first"],
        [
            [r["name"], f"{r['first_ms']:.1f}", f"{r['last_ms']:.1f}", f"{r['ratio']:.2f}"]
            for r in rows
        ],
    )
    if args.ingest_events:
        rates = [" then ".join(f"{r['events_per_second']:,.0f}" for r in runs) for runs in ingest]
        print(
            f"end-to-end ingest (events/s, rounds 1 and 2): {rates[0]} at first,"
            f" {rates[1]} grown; the better, last / first: {out['end_to_end_ratio']:.2f}"
        )
    if not all(r["identical"] for r in rows):
        raise SystemExit("an answer differs between the first and the grown database")


if __name__ == "__main__":
    main()
