"""Scaling out on one host: A API processes x W worker processes, against raw COPY.

For each AxW (1x1, 2x2, 4x4 by default) the same events go through the production path —
HTTP → ``evana serve`` xA → NATS JetStream → ``evana worker`` xW → PostgreSQL with every rollup
— timed from the first request until the reports count every event, with the CPU each kind
of process used per event. Two orders of the same events:

- **time**: requests in time order, each spanning a few hours (live traffic);
- **shuffled**: every request spans the whole period (a backfill sent in random order), so
  each transaction touches every (day, event) rollup key.

The clock stops once the reports count every event ("s"); CPU is counted until no rollup key
holds more than 8 delta rows ("compacted s"; "-": some were left so for 10 s more).

The reference is a binary COPY of the same rows into a plain indexed table, in the same run.
With ``--drain`` every event is queued first and only the workers' draining of the backlog is
timed (no API or sender competing for the cores). A last table shows what reports pay for
uncompacted rollup rows (rows per key). API CPU includes the reports polled (every 0.2 s)
until every event is counted.

    python -m bench.scaling                                       # 200k events per run
    python -m bench.scaling --drain --configs 1x1,1x2,1x4         # the workers alone
    python -m bench.scaling --events 20000 --configs 1x1,2x2      # CI smoke
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from ._cpu import POSTGRES_BACKGROUND, POSTGRES_SESSIONS, CpuMeter, pids_matching
from ._evana import fresh_postgres, serve
from ._report import print_table, write_json
from .data import EVENT_NAMES, EventSet, generate
from .ingest import _PLAIN_TABLE, _admin_key, _drop_streams, counted, workers

COMPACT_AFTER = 8  # evana's threshold (``_storage._compaction``), the same in every version
SETTLE_WAIT = 10.0

_EVANA = shutil.which("evana", path=os.path.dirname(sys.executable)) or "evana"

Row = tuple[uuid.UUID, str, str, dt.datetime]


def ordered_rows(data: EventSet, order: str) -> list[Row]:
    """The events in time order, or shuffled so that every batch spans the whole period."""
    rows = list(data.rows())
    if order == "shuffled":
        random.Random(11).shuffle(rows)
    return rows


def raw_copy(rows: list[Row], database: str) -> float:
    """Binary COPY of ``rows`` into a plain indexed table; return events/s."""
    url = fresh_postgres(database).replace("postgresql+psycopg://", "postgresql://")
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url) as conn:
        conn.execute(_PLAIN_TABLE)
        conn.execute("CREATE INDEX ON events (timestamp)")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY events FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "text", "text", "timestamptz", "jsonb", "timestamptz"])
            for event_id, name, user, stamp in rows:
                copy.write_row((event_id, name, user, stamp, None, now))
        conn.commit()
        return len(rows) / (time.perf_counter() - start)


def bodies(rows: list[Row], batch: int) -> list[bytes]:
    """Request bodies of ``batch`` events each, as the SDK sends them."""
    import json

    lines = [
        json.dumps(
            {
                "event_id": str(event_id),
                "event": name,
                "user_id": user,
                "timestamp": stamp.isoformat().replace("+00:00", "Z"),
            }
        )
        for event_id, name, user, stamp in rows
    ]
    return [
        ('{"events":[' + ",".join(lines[i : i + batch]) + "]}").encode()
        for i in range(0, len(lines), batch)
    ]


def run_config(
    data: EventSet, payloads: list[bytes], apis: int, procs: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Send every body through ``apis`` API and ``procs`` worker processes; return figures."""
    workdir = Path(tempfile.mkdtemp(prefix="evana-scaling-"))
    url = fresh_postgres(args.database)
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    env = {
        "EVANA_DATABASE_URL": url,
        "EVANA_NATS_URL": args.nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": prefix,
        "EVANA_MAX_BATCH_EVENTS": str(max(5000, args.batch)),
    }
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(serve(url, workdir, **env)) for _ in range(apis)]
        worker_pids = (
            [] if args.drain else [w.pid for w in stack.enter_context(workers(procs, env, workdir))]
        )
        key = _admin_key(url)
        clients = [
            stack.enter_context(
                httpx.Client(
                    base_url=api,
                    headers={"X-API-Key": key, "Content-Type": "application/json"},
                    timeout=120,
                    limits=httpx.Limits(max_connections=args.senders),
                )
            )
            for api in urls
        ]
        accepted = 0
        lock = threading.Lock()

        def send(numbered: tuple[int, bytes]) -> None:
            nonlocal accepted
            number, body = numbered
            http = clients[number % len(clients)]  # round robin, as a load balancer would
            for _ in range(50):
                response = http.post("/v1/events", content=body)
                if response.status_code == 202:
                    with lock:
                        accepted += response.json()["accepted"]
                    return
                time.sleep(0.2)
            raise RuntimeError(f"batch refused: {response.status_code} {response.text}")

        api_pids = [
            pid
            for api in urls
            for pid in pids_matching(f"evana serve --port {api.rsplit(':')[-1]}")
        ]
        groups: dict[str, list[int] | str] = {
            "api": api_pids,
            "worker": worker_pids,
            "postgresql": POSTGRES_SESSIONS,
            "postgresql (checkpoints, WAL)": POSTGRES_BACKGROUND,
            "nats": "nats-server",
            "sender": [os.getpid()],
        }
        meter = CpuMeter(groups)
        meter.start()
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.senders) as pool:
            list(pool.map(send, enumerate(payloads)))
        sent = time.perf_counter() - start
        if args.drain:  # the backlog is all in the stream: now time the workers alone
            groups["worker"] = [w.pid for w in stack.enter_context(workers(procs, env, workdir))]
            _wait_started(workdir, procs)
            del groups["api"], groups["sender"]
            meter.start()
            start = time.perf_counter()
        while (seen := counted(clients[0], data)) < len(data):
            if time.perf_counter() - start > 3600:
                raise RuntimeError(f"only {seen} of {len(data)} events arrived")
            time.sleep(0.2)
        total = time.perf_counter() - start
        # CPU is measured until compaction caught up (deferred merges are paid for), or
        # SETTLE_WAIT more seconds: keys left crowded then stay so until written again.
        while (crowded := _crowded(url)) and time.perf_counter() - start < total + SETTLE_WAIT:
            time.sleep(0.2)
        settled = None if crowded else time.perf_counter() - start
        cpu = meter.stop()
        exact = counted(clients[0], data) == len(data)
        commits = _commits(url)
    writes = sum(log.read_text().count("msg=batch_written") for log in workdir.glob("worker-*.log"))
    _drop_streams(args.nats_url, prefix)
    if not os.environ.get("EVANA_BENCH_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "apis": apis,
        "workers": procs,
        "drain": args.drain,
        "events": len(data),
        "accepted": accepted,
        "send_seconds": sent,
        "seconds": total,
        "events_per_second": len(data) / total,
        "settled_seconds": settled,
        "crowded_keys_left": crowded,
        "exact": exact,
        "commits": commits,
        "writes": writes,
        "events_per_write": len(data) / max(writes, 1),
        "cpu_seconds": cpu,
        "cpu_us_per_event": {name: 1e6 * s / len(data) for name, s in cpu.items()},
    }


def _crowded(url: str) -> int:
    """Rollup keys with more delta rows than compaction lets them keep: the clock stops only
    once there are none, so deferred compaction is paid inside the measured time."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM rollups GROUP BY day, event"
            " HAVING count(*) > %s) AS k",
            (COMPACT_AFTER,),
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_started(workdir: Path, procs: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = [workdir / f"worker-{n}.log" for n in range(procs)]
        if all("msg=worker_started" in log.read_text() for log in logs):
            return
        time.sleep(0.02)
    raise RuntimeError(f"the workers did not start; see {workdir}")


def _commits(url: str) -> int:
    """Transactions committed in the run's database so far (pg_stat_database)."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(plain) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def report_cost(database: str, days: int, repeat: int) -> list[dict[str, Any]]:
    """What a report pays per uncompacted row: a 60-day DAU and top events read with 1, 8
    and 32 delta rows per (day, event) key (no bitmap cache)."""
    from pyroaring import BitMap

    from evana.server._storage import ALL_EVENTS, Database, RollupReader, upgrade
    from evana.server._storage._tables import rollups

    from ._report import time_call

    out = []
    last = dt.date(2026, 10, 31)
    first = last - dt.timedelta(days=days - 1)
    rng = random.Random(5)
    for per_key in (1, 8, 32):
        db = Database(fresh_postgres(database))
        upgrade(db)
        with db.write() as conn:
            for day in (first + dt.timedelta(days=d) for d in range(days)):
                rows = []
                for name in [ALL_EVENTS, *EVENT_NAMES[:20]]:
                    users = 2000 if name == ALL_EVENTS else 300
                    for _ in range(per_key):
                        part = BitMap(rng.sample(range(20_000), users // per_key + 1))
                        rows.append((day, name, len(part), part.serialize()))
                db.dialect.append_rollups(conn, rows)

        def dau(db: Database = db) -> int:
            with db.read() as conn:
                return len(RollupReader(conn, db.dialect).users_by_day(ALL_EVENTS, first, last))

        def top(db: Database = db) -> int:
            with db.read() as conn:
                return len(RollupReader(conn, db.dialect).top_events(first, last, 10))

        with db.read() as conn:
            stored = conn.execute(rollups.select().with_only_columns(rollups.c.id)).all()
        _, dau_ms, _ = time_call(dau, repeat)
        _, top_ms, _ = time_call(top, repeat)
        out.append(
            {"rows_per_key": per_key, "rows": len(stored), "dau_ms": dau_ms, "top_ms": top_ms}
        )
        db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--senders", type=int, default=8, help="requests in flight")
    parser.add_argument(
        "--configs", default="1x1,2x2,4x4", help="API processes x worker processes, comma-separated"
    )
    parser.add_argument("--orders", default="time,shuffled", help="time, shuffled or both")
    parser.add_argument("--repeat", type=int, default=5, help="reads per report-cost figure")
    parser.add_argument(
        "--drain",
        action="store_true",
        help="queue every event first, then time the workers alone draining the backlog",
    )
    parser.add_argument("--no-report-cost", action="store_true", help="skip the report-cost table")
    parser.add_argument(
        "--nats-url", default=os.environ.get("EVANA_BENCH_NATS", "nats://127.0.0.1:4222")
    )
    parser.add_argument("--database", default="evana_bench_scaling")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    configs = [tuple(int(n) for n in c.split("x")) for c in args.configs.split(",")]
    data = generate(args.events, args.users, args.days)
    print(f"{len(data):,} events, {args.users:,} users, {data.first_day} to {data.last_day}")
    runs = []
    for order in args.orders.split(","):
        rows = ordered_rows(data, order)
        payloads = bodies(rows, args.batch)
        copy_rate = raw_copy(rows, args.database)
        print(f"{order}: raw COPY {copy_rate:,.0f} events/s")
        for apis, procs in configs:
            run = run_config(data, payloads, apis, procs, args)
            run |= {"order": order, "raw_copy_events_per_second": copy_rate}
            run["ratio_to_copy"] = run["events_per_second"] / copy_rate
            runs.append(run)
            print(
                f"{order} {apis}x{procs}: {run['events_per_second']:,.0f} events/s,"
                f" worker {run['cpu_us_per_event']['worker']:.1f} µs/event, exact: {run['exact']}"
            )
    print_table(
        f"{'Backlog drained' if args.drain else 'Ingest'} of {len(data):,} events on"
        f" {os.cpu_count()} cores: API x worker processes",
        [
            "order",
            "AxW",
            "events/s",
            "x raw COPY",
            "writes",
            "events/write",
            "s",
            "compacted s",
            "api µs/ev",
            "worker µs/ev",
            "postgres µs/ev",
            "pg bg µs/ev",
            "nats µs/ev",
            "sender µs/ev",
        ],
        [
            [
                run["order"],
                f"{run['apis']}x{run['workers']}",
                run["events_per_second"],
                run["ratio_to_copy"],
                run["writes"],
                run["events_per_write"],
                run["seconds"],
                "-" if run["settled_seconds"] is None else run["settled_seconds"],
                run["cpu_us_per_event"].get("api", 0.0),
                run["cpu_us_per_event"].get("worker", 0.0),
                run["cpu_us_per_event"].get("postgresql", 0.0),
                run["cpu_us_per_event"].get("postgresql (checkpoints, WAL)", 0.0),
                run["cpu_us_per_event"].get("nats", 0.0),
                run["cpu_us_per_event"].get("sender", 0.0),
            ]
            for run in runs
        ],
    )
    costs = [] if args.no_report_cost else report_cost(args.database, args.days, args.repeat)
    print_table(
        f"Report cost by uncompacted rows ({args.days} days, 21 keys a day)",
        ["rows per key", "rollup rows", "DAU ms", "top events ms"],
        [[c["rows_per_key"], c["rows"], c["dau_ms"], c["top_ms"]] for c in costs],
    )
    path = write_json(
        "scaling",
        {
            "events": len(data),
            "users": args.users,
            "days": args.days,
            "batch": args.batch,
            "senders": args.senders,
            "runs": runs,
            "report_cost": costs,
        },
        args.json,
    )
    print(f"wrote {path}")
    if not all(run["exact"] for run in runs):
        raise SystemExit("the reports do not count every event exactly once")


if __name__ == "__main__":
    main()
