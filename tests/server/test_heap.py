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
