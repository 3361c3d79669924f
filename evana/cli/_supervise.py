"""``evana worker --processes N``: N worker processes under one command, stopped together."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType

from evana._settings import metrics_ports

from ._errors import UsageError

__all__ = ["child_env", "child_ports", "supervise"]

_POLL = 0.2
# A child that does not stop this long after SIGTERM (a write stuck on a dead database) is
# killed: whatever it held is redelivered to another worker, event ids keep that harmless.
_STOP_GRACE = 120.0
_CHILD = "import sys; from evana.cli import main; sys.argv[0] = 'evana'; main()"


def child_ports(value: str, processes: int) -> str:
    """The ``EVANA_METRICS_PORT`` of every child: each takes the first free port of it.

    A single port becomes a range of one port per process; a range must hold them all.

    >>> child_ports("9464-9479", 4), child_ports("9000", 3), child_ports("0", 5)
    ('9464-9479', '9000-9002', '0')
    """
    ports = metrics_ports(value)
    if not ports:
        return "0"
    if len(ports) == 1 and processes > 1:
        last = ports[0] + processes - 1
        if last > 65535:
            raise UsageError(f"--metrics-port: no room for {processes} ports from {ports[0]}")
        return f"{ports[0]}-{last}"
    if len(ports) < processes:
        raise UsageError(
            f"--metrics-port: {ports[0]}-{ports[-1]} has {len(ports)} ports, fewer than"
            f" --processes {processes} (each process serves its own)"
        )
    return value


def supervise(processes: int, args: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``evana worker ARGS`` ``processes`` times; return the exit status for all of them.

    SIGTERM and SIGINT are passed on to every child, which drain and exit; the status is 0
    when all of them exited 0. A child that exits on its own makes the others stop too (a
    command that runs N workers should not quietly run fewer), and its status is returned.
    """
    group = _Group(
        [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, "worker", *args],
                env={**env},
                # Their own process group: a Ctrl-C in the terminal reaches the supervisor
                # alone, which passes it on once (twice would cut a draining worker short).
                process_group=0,
            )
            for _ in range(processes)
        ]
    )
    previous = {s: signal.signal(s, group.forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return group.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        group.kill()


class _Group:
    def __init__(self, children: list[subprocess.Popen[bytes]]) -> None:
        self.children = children
        self.stopping_since: float | None = None
        self.status = 0

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [child for child in self.children if child.poll() is None]

    def forward(self, signum: int, _: FrameType | None = None) -> None:
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
        for child in self.running():
            child.send_signal(signum)

    def _note(self, code: int | None) -> None:
        if code is not None and code != 0 and self.status == 0:
            self.status = code if code > 0 else 1  # killed by a signal: a failure
            if self.stopping_since is None:
                self.forward(signal.SIGTERM)

    def wait(self) -> int:
        while self.running():
            for child in self.children:
                self._note(child.poll())
            if (
                self.stopping_since is not None
                and time.monotonic() - self.stopping_since > _STOP_GRACE
            ):
                self.kill()
            time.sleep(_POLL)
        for child in self.children:
            self._note(child.wait())
        return self.status

    def kill(self) -> None:
        for child in self.running():
            child.kill()
            child.wait()


def child_env(base: Mapping[str, str], **settings: str | None) -> dict[str, str]:
    """``base`` with the settings the command line gave (as ``EVANA_*``) for the children."""
    env = dict(base)
    for name, value in settings.items():
        if value is not None:
            env[f"EVANA_{name.upper()}"] = value
    return env
