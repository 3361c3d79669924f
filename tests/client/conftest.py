"""Fixtures of the client tests: a recording HTTP sink, respx helpers, a real ``evana serve``."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests._evana import ServerProcess, evana_serve

ROOT = Path(__file__).resolve().parents[2]


URL = "http://evana.test"


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """respx mocking the API at ``URL``."""
    with respx.mock(base_url=URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def events_route(api: respx.MockRouter) -> respx.Route:
    """``POST /v1/events`` accepting every batch."""
    return api.post("/v1/events").mock(side_effect=lambda request: accepted(request))


def decode_body(content: bytes, encoding: str | None) -> dict[str, Any]:
    """The JSON of a request body, gunzipped when it says so."""
    if encoding == "gzip":
        content = gzip.decompress(content)
    return json.loads(content)  # type: ignore[no-any-return]


def batch_of(request: httpx.Request) -> dict[str, Any]:
    """The batch an httpx request (seen by respx) carried."""
    return decode_body(request.content, request.headers.get("content-encoding"))


def accepted(request: httpx.Request) -> httpx.Response:
    """respx side effect: a 202 accepting every event of the batch."""
    return httpx.Response(202, json={"accepted": len(batch_of(request)["events"]), "rejected": []})


@dataclass
class Received:
    """One request the sink got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def batch(self) -> dict[str, Any]:
        return decode_body(self.body, self.headers.get("content-encoding"))


@dataclass
class Sink:
    """An HTTP server in this process that records requests and answers like evana's API.

    Scripted answers (``script``) are used first, in order; then every batch is accepted.
    ``/echo`` answers a description of the request (the transport contract test uses it).
    """

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: deque[tuple[int, dict[str, str], bytes]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, status: int, body: object = None, headers: dict[str, str] | None = None):
        data = b"" if body is None else json.dumps(body).encode()
        self.answers.append((status, headers or {}, data))

    def batches(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.batch() for r in self.received if r.path == "/v1/events"]

    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.batches() for event in batch["events"]]

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if len(events) >= count:
                return events
            time.sleep(0.01)
        return self.events()


def _handler(sink: Sink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.command, self.path, headers, body, time.monotonic())
            path = self.path.split("?", 1)[0]
            if path == "/echo":
                status, extra, data = 200, {"X-Echo": "yes"}, _echo(received)
            else:
                with sink.lock:
                    sink.received.append(received)
                    scripted = sink.answers.popleft() if sink.answers else None
                if scripted is not None:
                    status, extra, data = scripted
                else:
                    count = len(received.batch()["events"]) if path == "/v1/events" else 0
                    status, extra = 202, {}
                    data = json.dumps({"accepted": count, "rejected": []}).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

    return Handler


def _echo(request: Received) -> bytes:
    path, _, query = request.path.partition("?")
    return json.dumps(
        {
            "method": request.method,
            "path": path,
            "query": query,
            "headers": request.headers,
            "content": request.body.decode("latin-1"),
        }
    ).encode()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A fresh recording HTTP sink on a free port."""
    recorder = Sink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    server.daemon_threads = True
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()
    thread.join(5)


def run_script(code: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in a fresh interpreter (repo on the path); never raises on exit code."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


@dataclass
class Served:
    """A running ``evana serve``, its admin key and its working directory (its database)."""

    url: str
    admin_key: str
    cwd: Path
    process: ServerProcess


@pytest.fixture(scope="module")
def evana_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One real ``evana serve`` (embedded SQLite) for a test module, with its admin key."""
    cwd = tmp_path_factory.mktemp("serve")
    with evana_serve(cwd) as server:
        assert server.admin_key
        yield Served(server.url, server.admin_key, cwd, server)
