"""Run the installed ``evana`` command as a real process (an API server, a worker, a CLI call)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ._services import free_port

__all__ = ["EVANA", "ServerProcess", "evana_serve", "run_evana"]

#: The installed console script next to this interpreter (falls back to `python -m`-style).
EVANA = (
    shutil.which("evana", path=os.path.dirname(sys.executable)) or shutil.which("evana") or "evana"
)


def run_evana(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``evana ARGS`` and return the finished process (never raises on exit codes)."""
    return subprocess.run(
        [EVANA, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        input=input,
    )


@dataclass
class ServerProcess:
    """A running ``evana serve``."""

    url: str
    proc: subprocess.Popen[str]
    admin_key: str | None
    output: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pump is not None:
            self.pump.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def evana_serve(
    cwd: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    wait: bool = True,
    args: Sequence[str] = (),
) -> Iterator[ServerProcess]:
    """Start ``evana serve [ARGS]`` in ``cwd`` on a free port and wait until /readyz says ready."""
    port = port or free_port()
    proc = subprocess.Popen(
        [EVANA, "serve", "--port", str(port), *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "EVANA_API_KEY": "", "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", proc, None)
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            server.output.append(line)

    server.pump = threading.Thread(target=pump, daemon=True)
    server.pump.start()
    try:
        if wait:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError("evana serve exited:\n" + "".join(server.output))
                # Wait for *this* process's banner too: a /readyz answer alone could come from
                # another test's server on a reused port, before this one printed its key.
                if any(server.url in line for line in list(server.output)):
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                            break
                time.sleep(0.1)
            else:
                raise RuntimeError("evana serve never became ready:\n" + "".join(server.output))
            match = re.search(r"admin key: (\S+)", "".join(server.output))
            server.admin_key = match.group(1) if match else None
        yield server
    finally:
        server.stop()
