"""What the fault drills share: processes to kill, clients that keep sending, the final check.

Every drill ends with :func:`check_exactly_once`: the ``events`` table holds exactly the events
that were sent (none lost, none twice), the rollups count each of them once (the top-events
counts add up to the number of events), and every report equals the brute-force reference.
Its figures (requests tried, faults injected, events lost, duplicates, duration) are printed
at the end of the test run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import itertools
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select, text

from evana.client import HTTPTransport, Request, Response
from evana.errors import TransportError
from evana.server._batch import NormalizedEvent
from evana.server._storage import Database
from evana.server._storage._tables import events as events_table
from tests._services import _nats_binary, _wait_for, free_port
from tests.server._pipeline import BASE, check_reports, make_events, wire

#: Figures of the drill just run, handed to the run's summary by conftest.py.
FIGURES: list[Figures] = []
DAYS = 20


@dataclass
class Figures:
    """One drill's outcome, for the closing summary."""

    drill: str
    events: int = 0
    requests: int = 0
    faults: int = 0
    lost: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        extra = f"; {', '.join(self.notes)}" if self.notes else ""
        return (
            f"{self.drill}: {self.events} events, {self.requests} requests tried,"
            f" {self.faults} faults injected, {self.lost} lost, {self.duplicates} counted twice,"
            f" {self.seconds:.1f} s{extra}"
        )


def drill_events(count: int, seed: int, users: int = 40) -> list[NormalizedEvent]:
    """Events over DAYS days, none within a minute of midnight UTC.

    The SDK stamps ``sent_at`` on each attempt and the server shifts timestamps by the clock
    skew it measures (a few ms here); an event a millisecond before midnight could then change
    day, and the reference would rightly disagree. Real data has that property too — the drill
    is about faults, not about skew.
    """
    out = []
    for event in make_events(count, users=users, days=DAYS, seed=seed):
        stamp = event.timestamp
        if stamp.hour == 23 and stamp.minute == 59:
            event = NormalizedEvent(
                event.event_id,
                event.event,
                event.user_id,
                stamp - dt.timedelta(minutes=5),
                event.properties,
                event.received_at,
            )
        out.append(event)
    return out


class NatsProcess:
    """A nats-server of the drill's own, on a fixed port and store directory, to kill.

    With ``name``, ``cluster_port`` and ``routes`` it is one node of a JetStream cluster (see
    :func:`nats_cluster`); it keeps its name and store across restarts, as a real node does.
    """

    def __init__(
        self,
        port: int,
        store: str,
        *,
        name: str | None = None,
        cluster_port: int | None = None,
        routes: Sequence[str] = (),
    ) -> None:
        self.port, self.store = port, store
        self.url = f"nats://127.0.0.1:{port}"
        self.name = name
        self.args: list[str] = ["-n", name] if name else []
        if cluster_port is not None:
            self.args += [
                "--cluster_name",
                "evana",
                "--cluster",
                f"nats://127.0.0.1:{cluster_port}",
                "--routes",
                ",".join(routes),
            ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [_nats_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        self.proc = subprocess.Popen(
            [*command, "-sd", self.store, *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self.port)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush — what a crash or an OOM kill does."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def nats_cluster(root: str, size: int = 3) -> list[NatsProcess]:
    """``size`` nats-server nodes (n1, n2, ...) of one JetStream cluster on loopback ports.

    Each has its own client port, cluster port and store directory under ``root``; every node
    lists every cluster port in ``--routes`` (its own included, which nats-server skips).
    Not started: call :meth:`NatsProcess.start` on each, then :func:`wait_for_jetstream`.
    """
    cluster_ports = [free_port() for _ in range(size)]
    routes = [f"nats://127.0.0.1:{port}" for port in cluster_ports]
    return [
        NatsProcess(
            free_port(),
            os.path.join(root, f"n{i + 1}"),
            name=f"n{i + 1}",
            cluster_port=cluster_ports[i],
            routes=routes,
        )
        for i in range(size)
    ]


async def _jetstream_ready(url: str) -> bool:
    import nats

    try:
        nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
    except Exception:
        return False
    try:
        await nc.jetstream(timeout=1).account_info()
        return True
    except Exception:
        return False
    finally:
        await nc.close()


def wait_for_jetstream(url: str, timeout: float = 30) -> None:
    """Wait until JetStream answers through ``url`` (a cluster has elected its meta leader)."""
    deadline = time.monotonic() + timeout
    while not asyncio.run(_jetstream_ready(url)):
        if time.monotonic() > deadline:
            raise AssertionError(f"JetStream never answered at {url} within {timeout}s")
        time.sleep(0.2)


async def _stream_leader(url: str, stream: str) -> str:
    import nats

    try:
        nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
    except Exception:
        return ""
    try:
        info = await nc.jetstream(timeout=2).stream_info(stream)
        return str(info.cluster.leader or "") if info.cluster else ""
    except Exception:  # no answer while the cluster elects one
        return ""
    finally:
        await nc.close()


def stream_leader(url: str, stream: str) -> str:
    """The server name of the stream's leader (stream info's ``cluster.leader``); "" for none."""
    return asyncio.run(_stream_leader(url, stream))


async def _stream_messages(url: str, stream: str) -> int:
    import nats

    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


def stream_messages(url: str, stream: str) -> int:
    """How many messages the JetStream stream holds."""
    return asyncio.run(_stream_messages(url, stream))


class LeaderWatch:
    """Asks the cluster for a stream's leader every 0.2 s (from a thread) and keeps the answers.

    Each look is ``(started, ended, leader)``, ``leader`` "" when none answered within a second:
    no leader elected, no quorum, or this client between servers. :meth:`leaderless` says
    whether the stream had no leader around a moment, which is when a publish may fail.
    """

    def __init__(self, urls: Sequence[str], stream: str) -> None:
        self.urls, self.stream = list(urls), stream
        self.looks: list[tuple[float, float, str]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._watch()), daemon=True)

    async def _watch(self) -> None:
        import nats

        async def quiet(error: Exception) -> None:  # a node it used is down: expected here
            pass

        nc = await nats.connect(
            self.urls,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
            connect_timeout=1,
            error_cb=quiet,
        )
        js = nc.jetstream(timeout=1)
        try:
            while not self._done.is_set():
                started = time.monotonic()
                try:
                    info = await js.stream_info(self.stream)
                    leader = str(info.cluster.leader or "") if info.cluster else ""
                except Exception:
                    leader = ""
                self.looks.append((started, time.monotonic(), leader))
                await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def __enter__(self) -> LeaderWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(10)

    def leaderless(self, moment: float, before: float, after: float = 0.5) -> bool:
        """Whether some look within [moment - before, moment + after] found no leader."""
        return any(
            not leader and started <= moment + after and ended >= moment - before
            for started, ended, leader in self.looks
        )

    def leaderless_seconds(self, since: float, until: float) -> float:
        """How long, between two moments, the looks found no leader (one look to the next)."""
        total = 0.0
        looks = [look for look in self.looks if since <= look[0] <= until]
        for (started, _, leader), (following, _, _) in itertools.pairwise(looks):
            if not leader:
                total += following - started
        return total


class Poster:
    """Posts batches the way a careful client does: until 202, waiting out 503s and outages."""

    def __init__(self, url: str, key: str) -> None:
        self.client = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=10)
        self.requests = 0
        self.refused = 0
        self.unavailable: list[float] = []  # when (time.monotonic()) each 503 came
        self.reasons: set[str] = set()  # what the 503s said, their NATS addresses cut off

    def post(self, events: Sequence[NormalizedEvent], deadline: float = 60) -> None:
        body = {"events": [wire(e) for e in events]}
        end = time.monotonic() + deadline
        while True:
            self.requests += 1
            try:
                answer = self.client.post("/v1/events", json=body)
                if answer.status_code == 202:
                    assert answer.json()["accepted"] == len(events)
                    return
                assert answer.status_code in (429, 503), answer.text
                if answer.status_code == 503:
                    self.unavailable.append(time.monotonic())
                    self.reasons.add(answer.json()["detail"].split(" at nats://")[0])
                wait = min(float(answer.headers.get("retry-after", "1")), 0.5)
            except httpx.TransportError:
                wait = 0.2
            self.refused += 1
            assert time.monotonic() < end, "a batch was never accepted"
            time.sleep(wait)

    def close(self) -> None:
        self.client.close()


class RecordingTransport(HTTPTransport):
    """The SDK's own transport, also noting every request and which events got a 202."""

    def __init__(self, url: str) -> None:
        super().__init__(url, timeout=10)
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.refused = 0  # no connection: the server was down
        self.cut = 0  # sent, and the connection died before the answer
        self.acked: set[uuid.UUID] = set()

    def handle_request(self, request: Request) -> Response:
        with self.lock:
            self.requests += 1
            self.in_flight += 1
        try:
            answer = super().handle_request(request)
        except TransportError as exc:
            with self.lock:
                if "ConnectError" in str(exc):
                    self.refused += 1
                else:
                    self.cut += 1
            raise
        finally:
            with self.lock:
                self.in_flight -= 1
        if request.path == "/v1/events" and answer.status_code == 202:
            body = request.content or b""
            if request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            ids = {uuid.UUID(e["event_id"]) for e in json.loads(body)["events"]}
            with self.lock:
                self.acked |= ids
        return answer


def counts(db_url: str) -> tuple[set[uuid.UUID], int]:
    """(distinct event ids stored, rows stored), on either dialect."""
    db = Database(db_url)
    try:
        with db.read() as conn:
            # Through the table's column type: SQLite keeps UUIDs as text, PostgreSQL as uuid.
            ids = set(conn.execute(select(events_table.c.event_id)).scalars())
            rows = int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
        return ids, rows
    finally:
        db.dispose()


def wait_for_all(db_url: str, events: Sequence[NormalizedEvent], timeout: float = 60) -> None:
    """Wait until every event is stored (or fail with how many are missing)."""
    want = {e.event_id for e in events}
    deadline = time.monotonic() + timeout
    while True:
        stored, _ = counts(db_url)
        if want <= stored:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(want - stored)} of {len(want)} events never arrived")
        time.sleep(0.2)


def check_exactly_once(
    figures: Figures, db_url: str, api_url: str, key: str, events: Sequence[NormalizedEvent]
) -> None:
    """Nothing lost, nothing stored or counted twice, every report exact; fills ``figures``."""
    wait_for_all(db_url, events)
    stored, rows = counts(db_url)
    want = {e.event_id for e in events}
    figures.events = len(want)
    figures.lost = len(want - stored)
    since, until = BASE.date(), (BASE + dt.timedelta(days=DAYS)).date()
    top = httpx.get(
        f"{api_url}/v1/stats/top-events",
        params={"since": str(since), "until": str(until), "limit": 100},
        headers={"X-API-Key": key},
        timeout=30,
    ).json()
    counted = sum(row["count"] for row in top["events"])
    figures.duplicates = (rows - len(stored)) + (counted - len(stored))
    assert stored == want, f"{figures.lost} lost, {len(stored - want)} unexpected"
    assert rows == len(want)
    assert counted == len(want), f"the rollups count {counted} events for {len(want)}"
    check_reports(api_url, key, events, days=DAYS)


@contextlib.contextmanager
def timed(figures: Figures) -> Iterator[Figures]:
    """Time the drill and file its figures for the summary (also when it fails)."""
    started = time.monotonic()
    try:
        yield figures
    finally:
        figures.seconds = time.monotonic() - started
        FIGURES.append(figures)


def pause(proc: subprocess.Popen[str]) -> None:
    """SIGSTOP: the process holds what it has and does nothing until :func:`resume`."""
    os.kill(proc.pid, signal.SIGSTOP)


def resume(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGCONT)


__all__ = [
    "DAYS",
    "FIGURES",
    "Figures",
    "LeaderWatch",
    "NatsProcess",
    "Poster",
    "RecordingTransport",
    "check_exactly_once",
    "counts",
    "drill_events",
    "nats_cluster",
    "pause",
    "resume",
    "stream_leader",
    "stream_messages",
    "timed",
    "wait_for_all",
    "wait_for_jetstream",
]
