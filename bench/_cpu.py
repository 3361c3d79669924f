"""CPU seconds used by groups of processes (from /proc), to show where a run's time goes."""

from __future__ import annotations

import os
import subprocess

__all__ = ["POSTGRES_BACKGROUND", "POSTGRES_SESSIONS", "CpuMeter", "pids_matching"]

#: PostgreSQL's processes that serve a connection ("postgres: 15/main: user db host(port) idle",
#: the cluster's name only where it has one), and those that serve the server (checkpointer,
#: background writer, WAL writer, autovacuum): the second group's CPU follows what was written
#: before as much as what is written now.
POSTGRES_SESSIONS = r"^postgres: (\S+: )?\S+ \S+ (\[local\]|\S+\()"
POSTGRES_BACKGROUND = r"^postgres: (\S+: )?(checkpointer|background writer|walwriter|autovacuum)"

_TICK = os.sysconf("SC_CLK_TCK")


def pids_matching(pattern: str) -> list[int]:
    """Process ids whose command line matches ``pattern`` (pgrep -f)."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split() if int(pid) != os.getpid()]


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


class CpuMeter:
    """User+system CPU of named process groups between :meth:`start` and :meth:`stop`.

    A group is a fixed list of pids or a pgrep pattern, looked up again at the end so that
    processes started in between (PostgreSQL backends of new connections) count too.
    """

    def __init__(self, groups: dict[str, list[int] | str]) -> None:
        self.groups = groups
        self._start: dict[int, float] = {}

    def _pids(self, group: list[int] | str) -> list[int]:
        return pids_matching(group) if isinstance(group, str) else group

    def start(self) -> None:
        self._start = {
            pid: _cpu_seconds(pid) for group in self.groups.values() for pid in self._pids(group)
        }

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since :meth:`start`."""
        return {
            name: sum(_cpu_seconds(pid) - self._start.get(pid, 0.0) for pid in self._pids(group))
            for name, group in self.groups.items()
        }
