"""``bench/client.py`` runs end to end (a smoke run: no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def test_the_client_benchmark_runs_and_writes_its_figures(tmp_path: Path) -> None:
    out_file = tmp_path / "client.json"
    out = subprocess.run(
        [sys.executable, "-m", "bench.client", "--quick", "--json", str(out_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert "app CPU µs/track" in out.stdout
    data = json.loads(out_file.read_text())
    rows = {row["sdk"]: row for row in data["results"]}
    assert set(rows) == {"evana", "posthog", "segment"}
    for row in rows.values():
        assert row["delivered"] == data["events"] == 2000
        assert row["app_cpu_us_per_track"] > 0
        assert row["peak_rss_mib"] > 0
    assert rows["evana"]["exit_lost"] == 0
    assert set(data["ratios"]) == {"app_cpu_us_per_track", "process_cpu_us_per_event"}
