"""``evana serve --workers N``: N processes answer on one port; SIGTERM stops them all, exit 0."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests._evana import evana_serve

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

DAY = "2004-04-04T12:00:00Z"


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def _answering(pids: set[int], port: int) -> set[int]:
    """The processes among ``pids`` that hold an accepted connection on ``port``."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:  # ESTABLISHED
                    sockets.add(f"socket:[{inode}]")
    holders = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in sockets:
                        holders.add(pid)
    return holders


def test_two_workers_answer_on_one_port_and_sigterm_exits_0(tmp_path: Path) -> None:
    with evana_serve(tmp_path, args=["--workers", "2"]) as server:
        assert server.admin_key
        port = urlsplit(server.url).port
        assert port is not None
        workers = {
            pid
            for pid in _children(server.proc.pid)
            if "multiprocessing.resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
        }
        assert len(workers) == 2, workers
        key = {"X-API-Key": server.admin_key}
        clients: list[httpx.Client] = []
        try:
            # Keep each connection open, so the process that accepted it can be seen holding it.
            for _ in range(200):
                client = httpx.Client(base_url=server.url, timeout=10)
                clients.append(client)
                event = {"event": "hit", "user_id": f"u{len(clients)}", "timestamp": DAY}
                answer = client.post("/v1/events", json={"events": [event]}, headers=key)
                assert answer.status_code == 202, answer.text
                if _answering(workers, port) == workers:
                    break
            assert _answering(workers, port) == workers
            # Both processes wrote to the one SQLite file (in turn: BEGIN IMMEDIATE).
            day = DAY[:10]
            query = {"since": day, "until": day}
            for _ in range(100):
                top = clients[0].get("/v1/stats/top-events", params=query, headers=key).json()
                if top["events"] == [
                    {"event": "hit", "count": len(clients), "users": len(clients)}
                ]:
                    break
                time.sleep(0.1)
            assert top["events"] == [{"event": "hit", "count": len(clients), "users": len(clients)}]
        finally:
            for client in clients:
                client.close()
        output = "".join(server.output)
        assert output.count("admin key:") == 1
        assert "2 worker processes" in output
        server.proc.terminate()
        assert server.proc.wait(30) == 0, "".join(server.output)
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
