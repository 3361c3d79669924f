"""Ingest at scale: evana's full production path against raw COPY and the row-by-row design.

Three ways to put the same generated events into PostgreSQL, measured in one run:

- **raw COPY**: binary COPY into a plain ``events`` table with a primary key and a timestamp
  index (the physical limit: no validation, no rollups, no network hop);
- **row by row**: "SELECT exists, then INSERT", one transaction per event (the decision
  record's literal design; measured on a sample, it is slow);
- **evana**: HTTP requests → ``evana serve`` (validate, publish) → NATS JetStream →
  ``evana worker`` processes → PostgreSQL with every rollup maintained, timed from the first
  request until the last event shows in the reports.

Request bodies are encoded before the clock starts, so the sender's JSON work does not compete
with the server for this machine's cores (clients normally run elsewhere).

With ``--properties`` every event carries ``plan`` (4 values) and ``country`` (100 values), and
the run measures only evana's path, twice on a fresh database each: without tracked properties,
then with ``EVANA_INSIGHT_PROPERTIES=plan,country`` (the workers then keep a rollup per value
beside the others); the price of tracking is the ratio of the two rates.

    python -m bench.ingest                         # 2M events
    python -m bench.ingest --events 50000 --users 2000   # CI smoke
    python -m bench.ingest --properties --events 500000  # tracked properties' cost
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from ._cpu import POSTGRES_BACKGROUND, POSTGRES_SESSIONS, CpuMeter, pids_matching
from ._evana import fresh_postgres, serve
from ._insight_data import COUNTRIES, PLANS
from ._report import print_table, write_json
from .data import EVENT_NAMES, EventSet, generate

TARGET_COPY = 0.5
TARGET_ROW_BY_ROW = 50.0
#: The PostHog route against /v1/events, end to end: within 20%.
TARGET_POSTHOG = 0.8
#: Tracking plan and country against no tracked property, end to end: within 15%.
TARGET_TRACKED = 0.85
#: What ``--properties`` tracks.
TRACKED = "plan,country"
_EVANA = shutil.which("evana", path=os.path.dirname(sys.executable)) or "evana"


# The table both baselines load: what DESIGN.md names `events`, with its two indexes.
_PLAIN_TABLE = (
    "CREATE TABLE events (event_id uuid PRIMARY KEY, event text NOT NULL,"
    " user_id text NOT NULL, timestamp timestamptz NOT NULL, properties jsonb,"
    " received_at timestamptz NOT NULL)"
)


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def raw_copy(data: EventSet, database: str) -> float:
    """Binary COPY of every event into a plain indexed table; return events/s."""
    url = _plain(fresh_postgres(database))
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url) as conn:
        conn.execute(_PLAIN_TABLE)
        conn.execute("CREATE INDEX ON events (timestamp)")
        conn.commit()
        rows = [(i, n, u, t, None, now) for i, n, u, t in data.rows()]
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY events FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "text", "text", "timestamptz", "jsonb", "timestamptz"])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - start)


def copy_from_json(data: EventSet, database: str) -> float:
    """Parse the JSON lines and binary-COPY them into a plain indexed table; return events/s.

    What an expert would script to load an export of events: no validation, no rollups, no
    idempotency, but the same starting point as evana (JSON text) — parsing included.
    """
    url = _plain(fresh_postgres(database))
    lines = list(data.json_lines())
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url) as conn:
        conn.execute(_PLAIN_TABLE)
        conn.execute("CREATE INDEX ON events (timestamp)")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY events FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "text", "text", "timestamptz", "jsonb", "timestamptz"])
            for line in lines:
                event = json.loads(line)
                copy.write_row(
                    (
                        uuid.UUID(event["event_id"]),
                        event["event"],
                        event["user_id"],
                        dt.datetime.fromisoformat(event["timestamp"]),
                        event.get("properties"),
                        now,
                    )
                )
        conn.commit()
        return len(lines) / (time.perf_counter() - start)


def row_by_row(data: EventSet, database: str, sample: int) -> float:
    """SELECT exists, then INSERT, one committed transaction per event; return events/s."""
    url = _plain(fresh_postgres(database))
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_PLAIN_TABLE)
        conn.execute("CREATE INDEX ON events (timestamp)")
        rows = list(data.rows(0, sample))
        start = time.perf_counter()
        for event_id, name, user, stamp in rows:
            with conn.transaction():
                found = conn.execute(
                    "SELECT 1 FROM events WHERE event_id = %s", (event_id,)
                ).fetchone()
                if found is None:
                    conn.execute(
                        "INSERT INTO events VALUES (%s, %s, %s, %s, NULL, %s)",
                        (event_id, name, user, stamp, now),
                    )
        return len(rows) / (time.perf_counter() - start)


def event_properties(index: int) -> dict[str, str]:
    """The properties of event ``index`` under ``--properties``: every (plan, country) pair
    once in each run of 400 events."""
    return {"plan": PLANS[index % len(PLANS)], "country": COUNTRIES[index // len(PLANS) % 100]}


def property_lines(data: EventSet) -> Iterator[str]:
    """Each event as one line of evana's wire format, with :func:`event_properties`."""
    for index, line in enumerate(data.json_lines()):
        yield line[:-1] + ', "properties": ' + json.dumps(event_properties(index)) + "}"


def bodies(data: EventSet, batch: int, properties: bool = False) -> list[bytes]:
    """Request bodies of ``batch`` events each, as the SDK sends them (JSON); ``properties``:
    each event with :func:`event_properties`."""
    lines = list(property_lines(data) if properties else data.json_lines())
    return [
        ('{"events":[' + ",".join(lines[i : i + batch]) + "]}").encode()
        for i in range(0, len(lines), batch)
    ]


def posthog_bodies(data: EventSet, batch: int, key: str) -> list[bytes]:
    """The same events as posthog-python sends them to ``/batch/`` (key in the body)."""
    out = []
    for start in range(0, len(data), batch):
        events = [
            {
                "event": name,
                "distinct_id": user,
                "uuid": str(event_id),
                "timestamp": stamp.isoformat().replace("+00:00", "Z"),
                "properties": {},
            }
            for event_id, name, user, stamp in data.rows(start, min(start + batch, len(data)))
        ]
        out.append(json.dumps({"api_key": key, "batch": events}).encode())
    return out


@contextlib.contextmanager
def workers(
    count: int, env: dict[str, str], cwd: Path, concurrency: int | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``evana worker`` processes until the block ends; stopped with SIGTERM."""
    extra = [] if concurrency is None else ["--concurrency", str(concurrency)]
    procs = []
    for n in range(count):
        log = (cwd / f"worker-{n}.log").open("w")
        procs.append(
            subprocess.Popen(
                [_EVANA, "worker", *extra, "--metrics-port", "0"],
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )
        )
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def counted(http: httpx.Client, data: EventSet) -> int:
    """Events the reports count over the whole data set (sum of every name's events)."""
    report = http.get(
        "/v1/stats/top-events",
        params={
            "since": data.first_day.isoformat(),
            "until": data.last_day.isoformat(),
            "limit": len(EVENT_NAMES) + 10,
        },
    )
    report.raise_for_status()
    return sum(row["count"] for row in report.json()["events"])


def evana_path(
    data: EventSet,
    args: argparse.Namespace,
    workdir: Path,
    route: str = "/v1/events",
    tracked: str = "",
    url: str | None = None,
) -> dict[str, Any]:
    """Send every event through the production path (to ``route``: evana's own, or PostHog's
    ``/batch/``); return the timings. ``tracked``: the API's and workers'
    ``EVANA_INSIGHT_PROPERTIES``. ``url``: a database already loaded, to add ``data`` to (on
    days it holds no event of), instead of a fresh ``args.database``."""
    url = url or fresh_postgres(args.database)
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    env = {
        "EVANA_DATABASE_URL": url,
        "EVANA_NATS_URL": args.nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": prefix,
        "EVANA_MAX_BATCH_EVENTS": str(max(5000, args.batch)),
        "EVANA_INSIGHT_PROPERTIES": tracked,
    }
    payloads = bodies(data, args.batch, args.properties) if route == "/v1/events" else []
    with (
        serve(url, workdir, **env) as api,
        workers(args.workers, env, workdir, args.worker_concurrency) as procs,
    ):
        key = _admin_key(url)
        payloads = payloads or posthog_bodies(data, args.batch, key)
        last = len(data) - (len(payloads) - 1) * args.batch
        accepted = 0
        lock = threading.Lock()
        limits = httpx.Limits(max_connections=args.senders)

        with httpx.Client(
            base_url=api, headers={"X-API-Key": key}, timeout=120, limits=limits
        ) as http:

            def send(body: bytes) -> None:
                nonlocal accepted
                for _ in range(20):
                    response = http.post(
                        route, content=body, headers={"Content-Type": "application/json"}
                    )
                    if response.status_code == 202:
                        answer = response.json()
                        if answer.get("rejected"):  # a generated event refused: never wait for it
                            raise RuntimeError(f"events rejected: {answer['rejected'][:3]}")
                        with lock:
                            accepted += answer["accepted"]
                        return
                    if response.status_code == 200:  # PostHog's answer: all of it durable
                        with lock:
                            accepted += last if body is payloads[-1] else args.batch
                        return
                    time.sleep(0.2)
                raise RuntimeError(f"batch refused: {response.status_code} {response.text}")

            port = api.rsplit(":", 1)[1]
            meter = CpuMeter(
                {
                    "api": pids_matching(f"evana serve --port {port}"),
                    "workers": [proc.pid for proc in procs],
                    "postgresql": POSTGRES_SESSIONS,
                    "postgresql (checkpoints, WAL)": POSTGRES_BACKGROUND,
                    "nats": "nats-server",
                    "sender (this process)": [os.getpid()],
                }
            )
            # Events already stored on the data's days (a database measured before): counted
            # on top of them.
            already = counted(http, data)
            meter.start()
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.senders) as pool:
                list(pool.map(send, payloads))
            sent = time.perf_counter() - start
            if accepted != len(data):
                raise RuntimeError(f"{accepted} of {len(data)} events accepted")
            while (seen := counted(http, data) - already) < len(data):
                if time.perf_counter() - start > 3600:
                    raise RuntimeError(f"only {seen} of {len(data)} events arrived")
                time.sleep(0.05)
            total = time.perf_counter() - start
            cpu = meter.stop()
            exact = counted(http, data) - already == len(data)
    _drop_streams(args.nats_url, prefix)
    with psycopg.connect(_plain(url)) as conn:
        ready = [
            name for (name,) in conn.execute("SELECT property FROM tracked_properties WHERE ready")
        ]
        (property_rows,) = conn.execute("SELECT count(*) FROM property_rollups").fetchone() or (0,)
    return {
        "events": len(data),
        "tracked": tracked,
        "tracked_ready": sorted(ready),
        "property_rollup_rows": property_rows,
        "accepted": accepted,
        "send_seconds": sent,
        "seconds": total,
        "events_per_second": len(data) / total,
        "api_events_per_second": len(data) / sent,
        "exact": exact,
        "cpu_seconds": cpu,
        "cpu_us_per_event": {name: 1e6 * seconds / len(data) for name, seconds in cpu.items()},
    }


def _admin_key(url: str) -> str:
    from evana.server._keys import KeyService
    from evana.server._storage import Database

    db = Database(url)
    try:
        return KeyService(db).create("admin", "bench").key
    finally:
        db.dispose()


def _drop_streams(nats_url: str, prefix: str) -> None:
    import asyncio

    import nats

    async def drop() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name.lower().startswith(prefix.lower()):
                await js.delete_stream(info.config.name)
        with contextlib.suppress(Exception):
            await js.delete_key_value(f"{prefix.upper()}_RETRIES")
        await nc.close()

    asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--senders", type=int, default=8, help="requests in flight")
    parser.add_argument("--workers", type=int, default=1, help="evana worker processes")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--row-sample", type=int, default=3000, help="events for the row-by-row baseline"
    )
    parser.add_argument(
        "--nats-url", default=os.environ.get("EVANA_BENCH_NATS", "nats://127.0.0.1:4222")
    )
    parser.add_argument("--database", default="evana_bench_ingest")
    parser.add_argument(
        "--properties",
        action="store_true",
        help=f"events with plan and country; measure evana without and with {TRACKED} tracked",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --properties: alternating runs of each side"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    data = generate(args.events, args.users, args.days)
    print(f"{len(data):,} events, {args.users:,} users, {data.first_day} to {data.last_day}")
    workdir = Path(tempfile.mkdtemp(prefix="evana-ingest-"))
    if args.properties:
        tracked_cost(data, args, workdir)
        return
    copy_rate = raw_copy(data, args.database)
    print(f"raw COPY: {copy_rate:,.0f} events/s")
    json_rate = copy_from_json(data, args.database)
    print(f"COPY from JSON lines: {json_rate:,.0f} events/s")
    row_rate = row_by_row(data, args.database, min(args.row_sample, len(data)))
    print(f"row by row: {row_rate:,.0f} events/s")
    ours = evana_path(data, args, workdir)
    print(
        f"evana: {ours['events_per_second']:,.0f} events/s end to end (API accepted {ours['api_events_per_second']:,.0f}/s)"
    )
    posthog = evana_path(data, args, workdir, route="/batch/")
    ratio_posthog = posthog["events_per_second"] / ours["events_per_second"]
    print(
        f"evana via PostHog /batch/: {posthog['events_per_second']:,.0f} events/s end to end (API accepted {posthog['api_events_per_second']:,.0f}/s)"
    )
    rows = [
        ["raw COPY (plain indexed table)", copy_rate, 1.0, ""],
        ["COPY from JSON lines (parse, then binary COPY)", json_rate, json_rate / copy_rate, ""],
        ["row by row (SELECT, then INSERT)", row_rate, row_rate / copy_rate, ""],
        [
            "evana: HTTP → API → JetStream → worker → PostgreSQL + rollups",
            ours["events_per_second"],
            ours["events_per_second"] / copy_rate,
            f"{ours['events_per_second'] / row_rate:,.0f}x row by row",
        ],
        [
            "evana, PostHog's /batch/ route (posthog-python's body)",
            posthog["events_per_second"],
            posthog["events_per_second"] / copy_rate,
            f"{ratio_posthog:.2f}x /v1/events (target ≥ {TARGET_POSTHOG})",
        ],
    ]
    print_table(
        f"Ingest of {len(data):,} events into PostgreSQL",
        ["path", "events/s", "x raw COPY", ""],
        rows,
    )
    print_table(
        f"Where evana's CPU went ({ours['seconds']:.1f} s wall on {os.cpu_count()} cores)",
        ["process", "CPU s", "µs per event", "share of cores"],
        [
            [
                name,
                seconds,
                ours["cpu_us_per_event"][name],
                seconds / ours["seconds"] / (os.cpu_count() or 1),
            ]
            for name, seconds in ours["cpu_seconds"].items()
        ],
    )
    ratio_copy = ours["events_per_second"] / copy_rate
    ratio_row = ours["events_per_second"] / row_rate
    ratio_json = ours["events_per_second"] / json_rate
    print(
        f"\nevana / raw COPY = {ratio_copy:.2f} (target ≥ {TARGET_COPY}); evana / COPY from JSON lines = {ratio_json:.2f}; evana / row by row = {ratio_row:,.0f} (target ≥ {TARGET_ROW_BY_ROW:.0f}); reports exact: {ours['exact']}"
    )
    path = write_json(
        "ingest",
        {
            "events": len(data),
            "users": args.users,
            "batch": args.batch,
            "senders": args.senders,
            "workers": args.workers,
            "worker_concurrency": args.worker_concurrency,
            "raw_copy_events_per_second": copy_rate,
            "row_by_row_events_per_second": row_rate,
            "copy_from_json_events_per_second": json_rate,
            "ratio_to_copy_from_json": ratio_json,
            "row_by_row_sample": min(args.row_sample, len(data)),
            "evana": ours,
            "ratio_to_copy": ratio_copy,
            "ratio_to_row_by_row": ratio_row,
            "meets_copy_target": ratio_copy >= TARGET_COPY,
            "meets_row_target": ratio_row >= TARGET_ROW_BY_ROW,
            "posthog": posthog,
            "ratio_posthog_to_events": ratio_posthog,
            "meets_posthog_target": ratio_posthog >= TARGET_POSTHOG,
        },
        args.json,
    )
    print(f"wrote {path}")
    if not (ours["exact"] and posthog["exact"]):
        raise SystemExit("the reports do not count every event exactly once")


def tracked_cost(data: EventSet, args: argparse.Namespace, workdir: Path) -> None:
    """``--properties``: evana's end-to-end rate without, then with, tracked properties, in
    ``--rounds`` alternating rounds; each side's fastest run is compared (on a shared machine
    the slower runs measure the neighbours). The CPU each event took in all the processes,
    which a neighbour slows less than the wall clock, is compared too."""
    runs: dict[str, list[dict[str, Any]]] = {"": [], TRACKED: []}
    for n in range(args.rounds):
        for tracked_names, found in runs.items():
            found.append(evana_path(data, args, workdir, tracked=tracked_names))
            print(
                f"round {n + 1}: evana, tracked: {tracked_names or '(none)'}:"
                f" {found[-1]['events_per_second']:,.0f} events/s end to end",
                flush=True,
            )
    untracked, tracked = (
        max(found, key=lambda r: float(r["events_per_second"])) for found in runs.values()
    )
    ratio = tracked["events_per_second"] / untracked["events_per_second"]
    cpu = {
        name: min(sum(r["cpu_us_per_event"].values()) for r in found)
        for name, found in runs.items()
    }
    cpu_ratio = cpu[""] / cpu[TRACKED]
    print_table(
        f"Ingest of {len(data):,} events with plan and country through evana",
        ["EVANA_INSIGHT_PROPERTIES", "events/s", "API accepted/s", "property rollup rows", ""],
        [
            ["(none)", untracked["events_per_second"], untracked["api_events_per_second"], 0, ""],
            [
                TRACKED,
                tracked["events_per_second"],
                tracked["api_events_per_second"],
                tracked["property_rollup_rows"],
                f"{ratio:.2f}x untracked (target ≥ {TARGET_TRACKED})",
            ],
        ],
    )
    print(
        f"\ntracked / untracked: {ratio:.2f} end to end (target ≥ {TARGET_TRACKED});"
        f" CPU per event {cpu['']:.1f} µs untracked, {cpu[TRACKED]:.1f} µs tracked"
        f" (untracked / tracked = {cpu_ratio:.2f})"
    )
    print_table(
        "Where the CPU went (µs per event, the fastest runs)",
        ["process", "untracked", "tracked"],
        [
            [name, us, tracked["cpu_us_per_event"].get(name, 0.0)]
            for name, us in untracked["cpu_us_per_event"].items()
        ],
    )
    path = write_json(
        "ingest_properties",
        {
            "events": len(data),
            "users": args.users,
            "batch": args.batch,
            "senders": args.senders,
            "workers": args.workers,
            "worker_concurrency": args.worker_concurrency,
            "properties": {"plan": len(PLANS), "country": len(COUNTRIES)},
            "rounds": args.rounds,
            "untracked": untracked,
            "tracked": tracked,
            "untracked_runs": runs[""],
            "tracked_runs": runs[TRACKED],
            "ratio_tracked_to_untracked": ratio,
            "cpu_us_per_event_untracked": cpu[""],
            "cpu_us_per_event_tracked": cpu[TRACKED],
            "cpu_ratio_untracked_to_tracked": cpu_ratio,
            "target": TARGET_TRACKED,
            "meets_target": ratio >= TARGET_TRACKED,
        },
        args.json,
    )
    print(f"wrote {path}")
    if not all(r["exact"] for found in runs.values() for r in found):
        raise SystemExit("the reports do not count every event exactly once")
    names = sorted(TRACKED.split(","))
    if any(r["tracked_ready"] != names or not r["property_rollup_rows"] for r in runs[TRACKED]):
        raise SystemExit(f"{TRACKED} were not tracked: {tracked['tracked_ready']}")


if __name__ == "__main__":
    main()
