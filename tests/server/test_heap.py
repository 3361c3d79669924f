"""The collector's settings in a process evana owns (``settle_heap``), checked in a child
process: the test run's own heap is not evana's to freeze."""

from __future__ import annotations

import subprocess
import sys

from evana._heap import YOUNG_OBJECTS


def test_settle_heap_freezes_start_up_and_collects_the_young_less_often() -> None:
    code = (
        "import gc; from evana._heap import settle_heap; before = gc.get_threshold();"
        " settle_heap(); after = gc.get_threshold();"
        " print(gc.get_freeze_count() > 0, after[0], after[1:] == before[1:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", str(YOUNG_OBJECTS), "True"]


#: Stickiness's pattern: a month of each day's persons joined, then counted.
_REPORTS = """
import resource, numpy as np
from evana._heap import keep_freed_memory
if {keep}:
    assert keep_freed_memory()
rng = np.random.default_rng(0)
parts = [np.sort(rng.integers(0, 400_000, 25_000, dtype=np.uint32)) for _ in range(30)]
def report():
    return np.bincount(np.bincount(np.concatenate(parts)))
for _ in range(3):
    report()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    report()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 20)
"""


def _faults_per_report(keep: bool) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _REPORTS.format(keep=keep)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def test_freed_memory_serves_the_next_report_without_page_faults() -> None:
    # By default the C heap gives the arrays' pages back, and each report faults them in anew.
    assert _faults_per_report(keep=False) > 500
    assert _faults_per_report(keep=True) < 50
