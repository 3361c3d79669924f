"""The Benchmarks page, rendered from the figures the benchmark programs wrote to bench/results/.

``bench/SUMMARY.md`` (the targets, the verdicts, the charts made by ``python -m bench.charts``)
comes first; then every ``bench/results/<name>.json`` becomes one section: the first paragraph
of the docstring of ``bench/<name>.py`` (what it measures and against what), the machine it ran
on, its parameters and a table for each list of rows. Nothing here knows a benchmark's fields,
so a new benchmark or new columns need no edit: re-run the benchmark, rebuild the site.

    python -m bench.queries && mkdocs build       # new figures, new page
    python docs/scripts/benchmarks.py             # the page, on stdout
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["benchmarks_page"]

ROOT = Path(__file__).resolve().parents[2]

_INTRO = """\
# Benchmarks

Benchmarks are programs in `bench/`, not timed tests: each prints a table and writes its figures
to `bench/results/<name>.json`, measuring evana and its comparison (a baseline, a peer or a
limit) in the same run on the same machine. This page is generated from those JSON files each
time the site is built (see `docs/scripts/benchmarks.py`), so its numbers are exactly the last
committed run's. Times are in milliseconds (`_ms`) or microseconds (`_us`) as the column says;
a `ratio` is evana's figure divided by the comparison's, as the program computes it.
"""


def _summary(program: Path) -> str:
    """The first paragraph of a benchmark program's module docstring."""
    if not program.exists():
        return ""
    doc = ast.get_docstring(ast.parse(program.read_text())) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value).replace("|", "\\|")


def _table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines.extend("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows)
    return "\n".join(lines)


def _machine(machine: dict[str, Any]) -> str:
    memory = machine.get("memory_mib")
    gib = f", {memory / 1024:.0f} GiB" if isinstance(memory, int | float) and memory else ""
    return (
        f"Measured on {machine.get('cpus', '?')} CPUs{gib}, Python {machine.get('python', '?')},"
        f" {machine.get('platform', '?')}."
    )


def _section(path: Path) -> str:
    name = path.stem
    data = json.loads(path.read_text())
    parts = [f"## {name}"]
    summary = _summary(ROOT / "bench" / f"{name}.py")
    if summary:
        parts.append(summary)
    parts.append(f"Re-run: `python -m bench.{name}` (writes `bench/results/{path.name}`).")
    if isinstance(data.get("machine"), dict):
        parts.append(_machine(data["machine"]))
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    if scalars:
        parts.append("Parameters: " + ", ".join(f"`{k}` = {_fmt(v)}" for k, v in scalars.items()))
    for key, value in data.items():
        if key == "machine":
            continue
        if isinstance(value, dict) and value:
            lines = [f"- `{k}`: {_fmt(v)}" for k, v in value.items()]
            parts.append(f"**{key}**\n\n" + "\n".join(lines))
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            parts.append(f"**{key}**\n\n" + _table(value))
    return "\n\n".join(parts)


def benchmarks_page(results: Path | None = None) -> str:
    """The whole page, as Markdown."""
    results = results or ROOT / "bench" / "results"
    files = sorted(results.glob("*.json")) if results.is_dir() else []
    if not files:
        body = (
            "No figures are committed in `bench/results/` at this version. Run the programs in"
            " `bench/` (for example `python -m bench.queries`) and rebuild the site."
        )
        return _INTRO + "\n" + body + "\n"
    summary = ROOT / "bench" / "SUMMARY.md"
    head = summary.read_text() if summary.exists() else ""
    return _INTRO + "\n" + head + "\n" + "\n\n".join(_section(path) for path in files) + "\n"


if __name__ == "__main__":
    sys.stdout.write(benchmarks_page())
