"""Client SDK benchmark: ``evana.Client`` against posthog-python and segment-analytics-python.

The same events go through each SDK, in a fresh process per SDK, to one local HTTP sink that
answers 200 and counts events (it runs in its own process, so it takes no CPU from the process
being measured). Per SDK:

- app CPU per track(): CPU time of the application thread inside the ``track()`` loop;
- process CPU per event: CPU time of the whole process (sender threads included) from the first
  ``track()`` until the sink has every event, divided by the events delivered;
- delivered events/s over that same span (wall clock);
- peak RSS of the process, and its growth from just before the first ``track()``;
- exit: in another fresh process, ``track()`` the same events and end the script without
  flush/close/shutdown; how many reached the sink once the process is gone.

Each SDK runs with its default settings, except a queue big enough for every event, so a drop
for lack of room does not blur the costs (the defaults of all three are 10,000).

    python -m bench.client                 # 20,000 events per SDK
    python -m bench.client --events 100000
    python -m bench.client --quick         # 2,000 events: a smoke run for CI, a few seconds

Writes ``bench/results/client.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/client.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._report import print_table, write_json

ROOT = Path(__file__).resolve().parents[1]
SDKS = ("evana", "posthog", "segment")
NAMES = ("page_view", "signup", "login", "purchase", "search", "add_to_cart", "share", "logout")


def make_events(count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The events every SDK sends: 8 names, 1,000 users, five typical properties."""
    return [
        (
            NAMES[n % len(NAMES)],
            f"user_{n % 1000}",
            {
                "plan": "pro" if n % 3 else "free",
                "n": n,
                "price": n * 0.25,
                "path": f"/products/{n % 97}",
                "mobile": n % 2 == 0,
            },
        )
        for n in range(count)
    ]


# -- the sink (its own process) -----------------------------------------------------------------


def _count(body: bytes) -> int:
    with contextlib.suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, list):
            return len(data)
        if isinstance(data, dict):
            for key in ("events", "batch"):
                if isinstance(data.get(key), list):
                    return len(data[key])
    return 0


def run_sink(port: int) -> None:
    """Answer every POST with 200, count the events in it; GET /count, POST /reset."""
    counts = {"events": 0, "requests": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                if target == "/count":
                    answer = dict(counts)
                elif target == "/reset":
                    counts.update(events=0, requests=0)
                    answer = dict(counts)
                else:
                    if headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(body)
                    events = _count(body)
                    counts["events"] += events
                    counts["requests"] += 1
                    answer = {"accepted": events, "rejected": [], "status": 1}
                data = json.dumps(answer).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _get(url: str, path: str) -> dict[str, int]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST" if path == "/reset" else "GET", path)
        return json.loads(conn.getresponse().read())  # type: ignore[no-any-return]
    finally:
        conn.close()


def sink_count(url: str) -> int:
    """Events the sink has counted since its last reset."""
    return _get(url, "/count")["events"]


# -- one SDK in one process ---------------------------------------------------------------------


def make_client(sdk: str, url: str, queue: int) -> tuple[Callable[..., object], Callable[[], None]]:
    """(track(event, user_id, properties), flush()) of one SDK pointed at the sink."""
    if sdk == "evana":
        import evana

        client = evana.Client(url, "bench", max_queue_size=queue)
        return client.track, lambda: client.flush(120) and None
    if sdk == "posthog":
        from posthog import Posthog

        posthog = Posthog("phc_bench", host=url, max_queue_size=queue)

        def capture(event: str, user_id: str, properties: dict[str, Any]) -> object:
            return posthog.capture(event, distinct_id=user_id, properties=properties)

        return capture, lambda: posthog.flush(timeout_seconds=120)
    if sdk == "segment":
        from segment.analytics import Client

        segment = Client("bench", host=url, max_queue_size=queue)

        def track(event: str, user_id: str, properties: dict[str, Any]) -> object:
            return segment.track(user_id, event, properties)

        return track, segment.flush
    raise SystemExit(f"unknown SDK {sdk!r}")


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(sdk: str, url: str, count: int) -> dict[str, Any]:
    """Run in a fresh process: track ``count`` events, wait until the sink has them all."""
    import logging

    logging.disable(logging.CRITICAL)  # the SDKs' own logging is not what is measured
    events = make_events(count)
    track, flush = make_client(sdk, url, queue=count)
    baseline = _rss_kib()
    cpu, wall, thread = time.process_time(), time.perf_counter(), time.thread_time()
    for event, user_id, properties in events:
        track(event, user_id, properties)
    app = time.thread_time() - thread
    flush()
    deadline = time.monotonic() + 60
    while (delivered := sink_count(url)) < count and time.monotonic() < deadline:
        time.sleep(0.005)  # flush() of some SDKs may return before the last answer
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "sdk": sdk,
        "events": count,
        "delivered": delivered,
        "app_cpu_us_per_track": app / count * 1e6,
        "process_cpu_us_per_event": cpu / max(1, delivered) * 1e6,
        "events_per_second": delivered / wall,
        "seconds": wall,
        "peak_rss_mib": peak / 1024,
        "rss_growth_mib": (peak - baseline) / 1024,
    }


def exit_run(sdk: str, url: str, count: int) -> None:
    """Run in a fresh process: track ``count`` events and end without flush or close."""
    import logging

    logging.disable(logging.CRITICAL)
    events = make_events(count)
    track, _ = make_client(sdk, url, queue=count)
    for event, user_id, properties in events:
        track(event, user_id, properties)
    # The script simply ends here, as a script or a job does.


# -- the driver ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.client", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _settled(url: str, seconds: float = 1.0) -> int:
    """The sink's count once it stopped moving (a daemon thread may still be mid-request)."""
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < seconds:
        now = sink_count(url)
        if now != last:
            last, stable_since = now, time.monotonic()
        time.sleep(0.05)
    return last


def run(count: int, exit_count: int) -> dict[str, Any]:
    """Measure every SDK against one sink; return the figures."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.client", "--sink", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _get(url, "/reset")
                break
            except OSError:
                if time.monotonic() > deadline or sink.poll() is not None:
                    raise RuntimeError("the sink did not start") from None
                time.sleep(0.05)
        results = []
        for sdk in SDKS:
            _get(url, "/reset")
            out = _python("--measure", sdk, "--url", url, "--events", str(count))
            if out.returncode != 0:
                raise RuntimeError(f"{sdk} failed:\n{out.stderr}")
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            _get(url, "/reset")
            started = time.monotonic()
            out = _python("--exit-run", sdk, "--url", url, "--events", str(exit_count))
            figures["exit_seconds"] = time.monotonic() - started
            if out.returncode != 0:
                raise RuntimeError(f"{sdk} exit run failed:\n{out.stderr}")
            figures["exit_events"] = exit_count
            figures["exit_delivered"] = _settled(url)
            figures["exit_lost"] = exit_count - figures["exit_delivered"]
            results.append(figures)
    finally:
        sink.terminate()
        sink.wait(10)
    return {"events": count, "exit_events": exit_count, "results": results}


def report(data: dict[str, Any]) -> dict[str, Any]:
    """Print the table and the ratios; return the ratios."""
    rows = data["results"]
    by_sdk = {row["sdk"]: row for row in rows}
    print_table(
        f"Client SDKs, {data['events']:,} events each (exit run: {data['exit_events']:,})",
        [
            "sdk",
            "app CPU µs/track",
            "CPU µs/event",
            "events/s",
            "peak RSS MiB",
            "RSS growth MiB",
            "delivered",
            "exit: delivered",
            "exit: lost",
            "exit s",
        ],
        [
            [
                row["sdk"],
                row["app_cpu_us_per_track"],
                row["process_cpu_us_per_event"],
                round(row["events_per_second"]),
                row["peak_rss_mib"],
                row["rss_growth_mib"],
                row["delivered"],
                row["exit_delivered"],
                row["exit_lost"],
                row["exit_seconds"],
            ]
            for row in rows
        ],
    )
    peers = [by_sdk[name] for name in ("posthog", "segment") if name in by_sdk]
    ratios = {}
    for key, label, target in (
        ("app_cpu_us_per_track", "app CPU per track()", 0.25),
        ("process_cpu_us_per_event", "process CPU per event", 0.5),
    ):
        best = min(peers, key=lambda row: row[key])
        ratios[key] = by_sdk["evana"][key] / best[key]
        verdict = "meets" if ratios[key] <= target else "MISSES"
        print(
            f"evana {label}: {ratios[key]:.2f}x of the better peer ({best['sdk']}); "
            f"target <= {target}x: {verdict}"
        )
    lost = {row["sdk"]: row["exit_lost"] for row in rows}
    print(f"events lost at exit without flush: {lost}")
    return ratios


def main(argv: list[str] | None = None) -> None:
    """Parse arguments; run the benchmark (or one of its subprocess roles)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per SDK")
    parser.add_argument(
        "--exit-events", type=int, help="events in the exit run (default: --events)"
    )
    parser.add_argument("--quick", action="store_true", help="2,000 events: a CI smoke run")
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=SDKS, help=argparse.SUPPRESS)
    parser.add_argument("--exit-run", choices=SDKS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        run_sink(args.sink)
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.url, args.events)))
        sys.stdout.flush()
        os._exit(0)  # measured; the SDKs' own exit work is the exit run's business
    if args.exit_run:
        exit_run(args.exit_run, args.url, args.events)
        return
    count = 2_000 if args.quick else args.events
    data = run(count, args.exit_events or count)
    data["ratios"] = report(data)
    path = write_json("client", data, args.json)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
