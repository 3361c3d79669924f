"""Soak: a sustained ingest with stats queries running alongside, watching memory and latency.

First a short full-speed burst measures the pipeline's maximum rate; then events are sent at a
steady 80% of it for ``--minutes`` while a reader asks for DAU, top events and retention. Every
``--sample`` seconds the API's and the workers' RSS are read. At the end every accepted event must
be counted exactly once. Production path by default (NATS + PostgreSQL + ``evana worker``);
``--embedded`` soaks ``evana serve`` on SQLite instead.

    python -m bench.soak                      # 10 minutes, production mode
    python -m bench.soak --minutes 0.5 --calibrate 5 --sample 2   # CI smoke
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from evana import uuid7

from ._cpu import pids_matching
from ._evana import fresh_postgres, serve
from ._report import print_table, write_json
from .data import EVENT_NAMES
from .ingest import _admin_key, _drop_streams, workers

FLAT = 0.10  # RSS may move this much (relative) between the end of warm-up and the end


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


class Traffic:
    """Live-looking batches: fresh ids, timestamps around now, a skewed mix of users and names."""

    def __init__(self, users: int, batch: int, seed: int = 11, uniform: bool = False) -> None:
        self.users, self.batch, self.uniform = users, batch, uniform
        self.rnd = random.Random(seed)
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(EVENT_NAMES))]
        self.names = self.rnd.choices(EVENT_NAMES, weights, k=4096)

    def body(self) -> bytes:
        now = dt.datetime.now(dt.UTC)
        stamp = now.isoformat().replace("+00:00", "Z")
        rnd = self.rnd
        lines = []
        for _ in range(self.batch):
            if self.uniform:  # calibration: every user appears, so the soak starts warm
                user = rnd.randrange(self.users)
            else:
                user = int(rnd.paretovariate(1.2) * 97) % self.users
            lines.append(
                f'{{"event_id":"{uuid7()}","event":"{rnd.choice(self.names)}",'
                f'"user_id":"user_{user:07d}","timestamp":"{stamp}"}}'
            )
        return ('{"events":[' + ",".join(lines) + "]}").encode()


class Sender:
    """Threads posting batches at a target rate; records request latencies and accepted events."""

    def __init__(self, http: httpx.Client, traffic: Traffic, threads: int) -> None:
        self.http, self.traffic, self.threads = http, traffic, threads
        self.rate = 0.0  # events/s; 0 = as fast as possible
        self.accepted = self.errors = 0
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._tokens = threading.Semaphore(0)

    def _pace(self) -> None:
        # One token per batch at the target rate; unlimited when rate is 0.
        next_at = time.perf_counter()
        while not self.stop.is_set():
            if self.rate <= 0:
                self._tokens.release()
                time.sleep(0.001)
                continue
            next_at += self.traffic.batch / self.rate
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.perf_counter()  # behind: do not burst to catch up
            self._tokens.release()

    def _post(self) -> None:
        while not self.stop.is_set():
            if not self._tokens.acquire(timeout=0.2):
                continue
            body = self.traffic.body()
            start = time.perf_counter()
            try:
                response = self.http.post(
                    "/v1/events", content=body, headers={"Content-Type": "application/json"}
                )
                ok = response.status_code == 202
                accepted = response.json()["accepted"] if ok else 0
            except httpx.HTTPError:
                ok, accepted = False, 0
            with self.lock:
                self.latencies.append(time.perf_counter() - start)
                self.accepted += accepted
                self.errors += not ok

    @contextlib.contextmanager
    def running(self) -> Iterator[Sender]:
        threads = [threading.Thread(target=self._pace, daemon=True)]
        threads += [threading.Thread(target=self._post, daemon=True) for _ in range(self.threads)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(30)


class Reader:
    """A dashboard: DAU, top events and retention, one after another, with latencies."""

    def __init__(self, http: httpx.Client, pause: float) -> None:
        self.http, self.pause = http, pause
        self.latencies: dict[str, list[float]] = {"dau": [], "top-events": [], "retention": []}
        self.errors = 0
        self.stop = threading.Event()

    def _loop(self) -> None:
        params = {
            "dau": {},
            "top-events": {"limit": 10},
            "retention": {"period": "day", "periods": 7},
        }
        while not self.stop.is_set():
            for report, extra in params.items():
                start = time.perf_counter()
                try:
                    ok = self.http.get(f"/v1/stats/{report}", params=extra).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies[report].append(time.perf_counter() - start)
                self.errors += not ok
            self.stop.wait(self.pause)

    @contextlib.contextmanager
    def running(self) -> Iterator[Reader]:
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            thread.join(30)


def counted(http: httpx.Client, since: dt.date) -> int:
    """Events the reports count since ``since`` (every name's count summed)."""
    today = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    report = http.get(
        "/v1/stats/top-events",
        params={"since": since.isoformat(), "until": today.isoformat(), "limit": 1000},
    )
    return sum(row["count"] for row in report.json()["events"])


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of ``values`` in ms (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The soak; returns every figure."""
    workdir = Path(tempfile.mkdtemp(prefix="evana-soak-"))
    since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    prefix = f"soak_{uuid.uuid4().hex[:8]}"
    if args.embedded:
        url, env = f"sqlite:///{workdir}/soak.db", {}
    else:
        url = fresh_postgres(args.database)
        env = {"EVANA_NATS_URL": args.nats_url, "EVANA_NATS_SUBJECT_PREFIX": prefix}
    env = {**env, "EVANA_DATABASE_URL": url}
    worker_count = 0 if args.embedded else args.workers
    with (
        serve(url, workdir, **env) as api,
        workers(worker_count, env, workdir, args.worker_concurrency) as procs,
    ):
        api_pid = pids_matching(f"evana serve --port {api.rsplit(':', 1)[1]}")[0]
        key = _admin_key(url)
        limits = httpx.Limits(max_connections=args.senders + 2)
        with httpx.Client(
            base_url=api, headers={"X-API-Key": key}, timeout=60, limits=limits
        ) as http:
            # 1. Calibrate: full speed with every user appearing (so the soak starts from warm
            # caches: a steady state); the sustainable rate is how fast the reports grow once
            # the first seconds (empty tables, a short queue) are over.
            sender = Sender(http, Traffic(args.users, args.batch, uniform=True), args.senders)
            with sender.running():
                time.sleep(max(2.0, args.calibrate / 3))
                first, t0 = counted(http, since), time.perf_counter()
                time.sleep(args.calibrate)
                maximum = (counted(http, since) - first) / (time.perf_counter() - t0)
            target = args.load * maximum
            print(
                f"maximum sustained rate {maximum:,.0f} events/s; soaking at {target:,.0f} events/s"
            )
            _settle(http, since, sender.accepted)
            sender = Sender(http, Traffic(args.users, args.batch, seed=12), args.senders)
            sender.rate = target
            baseline = counted(http, since)
            samples = []
            reader = Reader(http, args.read_pause)
            start = time.perf_counter()
            with sender.running(), reader.running():
                while (elapsed := time.perf_counter() - start) < args.minutes * 60:
                    time.sleep(args.sample)
                    samples.append(
                        {
                            "seconds": round(time.perf_counter() - start, 1),
                            "api_rss_mib": rss_mib(api_pid),
                            "worker_rss_mib": [rss_mib(proc.pid) for proc in procs],
                            "accepted": sender.accepted,
                            "counted": counted(http, since) - baseline,
                        }
                    )
            del elapsed
            final = _settle(http, since, baseline + sender.accepted) - baseline
    if not args.embedded:
        _drop_streams(args.nats_url, prefix)
    duration = time.perf_counter() - start
    warm = [s for s in samples if s["seconds"] >= args.warmup] or samples

    def drift(values: list[float]) -> float:
        return (max(values) - min(values)) / values[0] if values and values[0] else 0.0

    api_rss = [s["api_rss_mib"] for s in warm]
    worker_rss = [sum(s["worker_rss_mib"]) for s in warm]
    return {
        "mode": "embedded" if args.embedded else "production",
        "minutes": args.minutes,
        "max_events_per_second": maximum,
        "target_events_per_second": target,
        "achieved_events_per_second": sender.accepted / duration,
        "accepted": sender.accepted,
        "counted": final,
        "lost": sender.accepted - final if final <= sender.accepted else 0,
        "extra_counted": max(0, final - sender.accepted),
        "ingest_errors": sender.errors,
        "read_errors": reader.errors,
        "ingest_ms": {
            "p50": percentile(sender.latencies, 0.5),
            "p99": percentile(sender.latencies, 0.99),
        },
        "read_ms": {
            name: {"p50": percentile(v, 0.5), "p99": percentile(v, 0.99), "n": len(v)}
            for name, v in reader.latencies.items()
        },
        "api_rss_drift": drift(api_rss),
        "worker_rss_drift": drift(worker_rss) if worker_count else 0.0,
        "flat": drift(api_rss) <= FLAT and (not worker_count or drift(worker_rss) <= FLAT),
        "samples": samples,
    }


def _settle(http: httpx.Client, since: dt.date, expected: int, timeout: float = 300) -> int:
    """Wait until the reports count ``expected`` events (or stop growing); return the count."""
    deadline, last, still = time.monotonic() + timeout, -1, 0
    while time.monotonic() < deadline:
        now = counted(http, since)
        if now >= expected:
            return now
        still = still + 1 if now == last else 0
        if still > 40:
            return now
        last = now
        time.sleep(0.25)
    return counted(http, since)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--load", type=float, default=0.8, help="fraction of the measured maximum")
    parser.add_argument(
        "--calibrate", type=float, default=60, help="seconds of full-speed sending measured"
    )
    parser.add_argument(
        "--warmup", type=float, default=60, help="seconds before RSS must stay flat"
    )
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument(
        "--read-pause", type=float, default=0.5, help="seconds between dashboard refreshes"
    )
    parser.add_argument("--embedded", action="store_true", help="soak embedded mode (SQLite)")
    parser.add_argument(
        "--nats-url", default=os.environ.get("EVANA_BENCH_NATS", "nats://127.0.0.1:4222")
    )
    parser.add_argument("--database", default="evana_bench_soak")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    result = run(args)
    step = max(1, len(result["samples"]) // 20)
    print_table(
        f"Soak, {result['mode']} mode: {result['minutes']} min at {result['target_events_per_second']:,.0f} events/s",
        ["s", "API RSS MiB", "worker RSS MiB", "accepted", "counted"],
        [
            [s["seconds"], s["api_rss_mib"], sum(s["worker_rss_mib"]), s["accepted"], s["counted"]]
            for s in result["samples"][::step]
        ],
    )
    print_table(
        "Latency (ms) while soaking",
        ["request", "p50", "p99"],
        [["POST /v1/events (1000 events)", result["ingest_ms"]["p50"], result["ingest_ms"]["p99"]]]
        + [[f"GET /v1/stats/{name}", v["p50"], v["p99"]] for name, v in result["read_ms"].items()],
    )
    print(
        f"\naccepted {result['accepted']:,}, counted {result['counted']:,}, lost {result['lost']:,},"
        f" counted twice {result['extra_counted']:,}; errors: ingest {result['ingest_errors']}, reads {result['read_errors']}"
        f"\nRSS drift after warm-up: API {result['api_rss_drift']:.1%}, workers {result['worker_rss_drift']:.1%}"
        f" (flat within ±{FLAT:.0%}: {'yes' if result['flat'] else 'NO'})"
    )
    name = "soak_embedded" if args.embedded else "soak"
    print(f"wrote {write_json(name, result, args.json)}")
    if result["lost"] or result["extra_counted"]:
        raise SystemExit("events were lost or counted twice")


if __name__ == "__main__":
    main()
