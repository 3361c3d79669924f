"""Charts of the committed benchmark figures, for docs/benchmarks (PNG, from bench/results/*.json).

python -m bench.charts        # writes docs/images/bench-queries.png and bench-ingest.png
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
IMAGES = ROOT / "docs" / "images"


def queries_chart(path: Path) -> Path:
    """Report times, evana (warm and first call) against DuckDB, log scale, per mode."""
    data = json.loads(path.read_text())
    modes = sorted({row["mode"] for row in data["reports"]})
    fig, axes = plt.subplots(1, len(modes), figsize=(7 * len(modes), 6), sharey=True)
    axes = axes if len(modes) > 1 else [axes]
    for ax, mode in zip(axes, modes, strict=True):
        rows = [row for row in data["reports"] if row["mode"] == mode]
        names = [row["report"].replace(", start/return event", " +start/return") for row in rows]
        y = range(len(rows))
        ax.barh(
            [i + 0.27 for i in y],
            [r["duckdb_ms"] for r in rows],
            0.27,
            label="DuckDB, in memory",
            color="#999999",
        )
        ax.barh(
            list(y),
            [r["evana_first_ms"] for r in rows],
            0.27,
            label="evana, first call",
            color="#9ecae1",
        )
        ax.barh(
            [i - 0.27 for i in y],
            [r["evana_ms"] for r in rows],
            0.27,
            label="evana, warm",
            color="#2171b5",
        )
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("milliseconds (log scale), through the HTTP API for evana")
        ax.set_title(f"evana on {'PostgreSQL' if mode == 'postgresql' else 'SQLite (embedded)'}")
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(
        f"Reports over {data['events']:,} events, {data['users']:,} users, {data['days']} days"
    )
    fig.tight_layout()
    out = IMAGES / "bench-queries.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def ingest_chart(path: Path) -> Path:
    """Events/s of each way into PostgreSQL, log scale."""
    data = json.loads(path.read_text())
    bars = [
        ("raw binary COPY\n(prepared rows)", data["raw_copy_events_per_second"], "#999999"),
        (
            "COPY from JSON lines\n(parse, then COPY)",
            data["copy_from_json_events_per_second"],
            "#bbbbbb",
        ),
        (
            "evana end to end\nHTTP → NATS → worker → PG",
            data["evana"]["events_per_second"],
            "#2171b5",
        ),
        ("row by row\n(SELECT, then INSERT)", data["row_by_row_events_per_second"], "#de2d26"),
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.barh([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
    for i, (_, value, _) in enumerate(bars):
        ax.text(value * 1.05, i, f"{value:,.0f}/s", va="center")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlim(right=max(b[1] for b in bars) * 4)
    ax.set_xlabel("events per second (log scale)")
    ax.set_title(f"Ingest of {data['events']:,} events into PostgreSQL, same run")
    fig.tight_layout()
    out = IMAGES / "bench-ingest.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, draw in (("queries", queries_chart), ("ingest", ingest_chart)):
        path = RESULTS / f"{name}.json"
        if path.exists():
            print(f"wrote {draw(path)}")


if __name__ == "__main__":
    main()
