"""Draw the documentation's pictures into docs/images/ (committed SVG files).

- ``architecture.svg``: the two modes, embedded and production, and the way an event travels;
- ``retry-timeline.svg``: when a worker retries a failing batch, from ``Settings().retry_delays()``;
- ``dau.svg`` and ``retention.svg``: DAU and a weekly retention heat map of a synthetic product,
  computed by evana itself: the script starts ``evana serve`` on an empty SQLite file in a
  temporary folder, sends the events with the SDK, and reads the reports back with the SDK.

The synthetic product is deterministic (a seeded generator), so re-running the script redraws
the same pictures. Needs the ``docs`` extra (matplotlib) and the installed ``evana`` command.

    python docs/scripts/pictures.py            # every picture
    python docs/scripts/pictures.py --only architecture retry-timeline
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

IMAGES = Path(__file__).resolve().parents[1] / "images"

#: The synthetic product: 12 ISO weeks of signups, Monday 2026-08-03 to Sunday 2026-10-25.
FIRST_DAY = dt.date(2026, 8, 3)
DAYS = 84
SEED = 8
INK, BLUE, GREEN, ORANGE, RED, GREY = (
    "#1f2937",
    "#3f51b5",
    "#2e7d32",
    "#ef6c00",
    "#c62828",
    "#eceff1",
)


def _style() -> None:
    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: small files that read well
            "svg.hashsalt": "evana",  # stable ids: re-running gives the same file
            "font.family": "sans-serif",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def _save(fig: Any, name: str) -> Path:
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.svg"
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    print(f"wrote {path}")
    return path


# -- architecture ------------------------------------------------------------------------------


def _box(
    ax: Any, x: float, y: float, w: float, h: float, title: str, note: str, color: str
) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", fc="white", ec=color, lw=1.6
        )
    )
    ax.text(x + w / 2, y + h * 0.64, title, ha="center", va="center", weight="bold", color=INK)
    ax.text(x + w / 2, y + h * 0.3, note, ha="center", va="center", fontsize=7.5, color="#455a64")


def _arrow(
    ax: Any,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    color: str = INK,
    offset: tuple[float, float] = (0, 0.12),
    style: str = "-|>",
) -> None:
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, lw=1.3)
    )
    if label:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, label, ha="center", va="center", fontsize=8, color=color)


def architecture() -> Path:
    """Both modes, side by side."""
    from evana._settings import Settings

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.5]})
    for ax, title, width in (
        (left, "Embedded mode: one process", 10),
        (right, "Production mode", 15),
    ):
        ax.set_xlim(0, width)
        ax.set_ylim(0, 7)
        ax.axis("off")
        ax.set_title(title, loc="left", weight="bold", color=INK)

    _box(left, 0.3, 5.3, 4.4, 1.2, "your application", "evana.Client / AsyncClient", BLUE)
    _box(left, 5.3, 5.3, 4.4, 1.2, "evana CLI", "ingest · stats", BLUE)
    left.add_patch(
        FancyBboxPatch((0.3, 0.3), 9.4, 3.8, boxstyle="round,pad=0.02", fc=GREY, ec=GREY)
    )
    left.text(0.6, 3.8, "evana serve", fontsize=9, weight="bold", color="#455a64")
    _box(left, 0.8, 2.1, 8.4, 1.2, "API (FastAPI)", "validate · authenticate · write", GREEN)
    _box(left, 0.8, 0.55, 8.4, 1.1, "SQLite file", "events + rollups; 202 = committed", ORANGE)
    _arrow(left, (2.5, 5.3), (2.5, 3.3), "POST /v1/events", offset=(0.0, 0.25))
    _arrow(left, (7.5, 5.3), (7.5, 3.3), "GET /v1/stats/*", offset=(0.0, 0.25))
    _arrow(left, (5, 2.1), (5, 1.65))

    _box(right, 0.2, 5.5, 4.0, 1.2, "applications, CLI", "Client · evana ingest", BLUE)
    _box(right, 0.2, 3.2, 4.0, 1.4, "API replicas", "validate · publish · 202", GREEN)
    _box(right, 5.5, 3.2, 4.0, 1.4, "NATS JetStream", "EVENTS · events.ingest", ORANGE)
    _box(right, 10.8, 3.2, 4.0, 1.4, "evana worker x N", "one durable consumer", GREEN)
    _box(right, 10.8, 5.5, 4.0, 1.2, "dead letters", "EVENTS_DLQ · events.dlq", RED)
    _box(right, 10.8, 0.7, 4.0, 1.3, "PostgreSQL", "events + rollups", ORANGE)
    _arrow(right, (2.2, 5.5), (2.2, 4.6), "batches", offset=(0.6, 0.0))
    _arrow(right, (4.2, 3.9), (5.5, 3.9), "stored", offset=(0, 0.22))
    _arrow(right, (9.5, 3.9), (10.8, 3.9), "pull", offset=(0, 0.22))
    _arrow(right, (12.8, 3.2), (12.8, 2.0), "write", offset=(0.45, 0.0))
    retries = Settings().retry_attempts
    _arrow(right, (12.8, 4.6), (12.8, 5.5), f"after {retries} retries", color=RED, offset=(-1.3, 0))
    right.plot([10.8, 2.2], [1.35, 1.35], color="#78909c", lw=1.3)
    _arrow(right, (2.2, 1.35), (2.2, 3.2), color="#78909c")
    right.text(
        6.5,
        1.6,
        "GET /v1/stats/*: reports from the rollups",
        ha="center",
        fontsize=8,
        color="#546e7a",
    )
    return _save(fig, "architecture")


# -- retry timeline ----------------------------------------------------------------------------


def retry_timeline() -> Path:
    """The first attempt, each retry after base·3^(n-1) seconds, then the dead-letter queue."""
    from evana._settings import Settings

    delays = Settings().retry_delays()
    starts = [0.0]
    for delay in delays:
        starts.append(starts[-1] + delay)
    total = starts[-1]
    fig, ax = plt.subplots(figsize=(10, 3.4))
    rows = len(starts) + 1
    ax.set_ylim(rows - 0.4, -0.6)
    ax.set_xlim(-total * 0.02, total * 1.42)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_xlabel("seconds since the first attempt")
    for n, start in enumerate(starts):
        if n:
            ax.barh(n, delays[n - 1], left=starts[n - 1], height=0.5, color="#ffe0b2")
            label = f"waits {delays[n - 1]:g} s, retry {n} at {start:g} s"
        else:
            label = "attempt 1 fails"
        ax.plot([start], [n], "o", color=ORANGE, ms=8, zorder=3)
        ax.text(start + total * 0.015, n, label, va="center", fontsize=8.5, color=INK)
    ax.plot([total], [rows - 1], "s", color=RED, ms=8)
    ax.text(
        total + total * 0.015,
        rows - 1,
        f"retry {len(delays)} fails too: to the dead-letter queue",
        va="center",
        fontsize=8.5,
        color=RED,
    )
    ax.set_title(
        f"A batch that keeps failing: {len(delays)} retries over {total:g} s, then the DLQ",
        loc="left",
        weight="bold",
        color=INK,
    )
    return _save(fig, "retry-timeline")


# -- data pictures -----------------------------------------------------------------------------


def synthetic_events() -> list[dict[str, Any]]:
    """A product's events: daily signups, users who fade away at their own pace, quiet weekends."""
    rng = random.Random(SEED)
    names = ["view_page", "search", "view_item", "add_to_cart", "purchase", "share"]
    weights = [40, 18, 16, 8, 4, 2]
    events: list[dict[str, Any]] = []
    user = 0
    for offset in range(DAYS):
        day = FIRST_DAY + dt.timedelta(days=offset)
        growth = 1 + offset / DAYS  # the product grows: twice the signups by the end
        for _ in range(int(rng.gauss(30, 5) * growth * (0.6 if day.weekday() >= 5 else 1))):
            user += 1
            uid = f"u{user:05d}"
            stickiness = rng.betavariate(2, 3)  # how likely this user comes back at all
            half_life = rng.uniform(5, 40)  # days until their visits halve
            for age in range(DAYS - offset):
                when = day + dt.timedelta(days=age)
                weekend = 0.55 if when.weekday() >= 5 else 1.0
                p = 1.0 if age == 0 else stickiness * weekend * 0.6 * math.exp(-age / half_life)
                if rng.random() >= p:
                    continue
                for n in range(1 + int(rng.expovariate(0.5))):
                    name = "signup" if age == 0 and n == 0 else rng.choices(names, weights)[0]
                    moment = dt.datetime.combine(when, dt.time(8), dt.UTC) + dt.timedelta(
                        minutes=rng.randrange(14 * 60)
                    )
                    events.append(
                        {
                            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                            "event": name,
                            "user_id": uid,
                            "timestamp": moment.isoformat(),
                        }
                    )
    return events


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def evana_server() -> Iterator[tuple[str, str]]:
    """``evana serve`` on an empty database in a temporary folder: ``(url, admin key)``."""
    import httpx

    command = shutil.which("evana", path=os.path.dirname(sys.executable)) or "evana"
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "serve.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [command, "serve", "--port", str(port)], cwd=folder, stdout=out, stderr=out
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                if proc.poll() is not None:
                    raise RuntimeError("evana serve exited:\n" + log.read_text())
                time.sleep(0.1)
            match = re.search(r"admin key: (\S+)", log.read_text())
            if match is None:
                raise RuntimeError("evana serve printed no admin key:\n" + log.read_text())
            yield url, match.group(1)
        finally:
            proc.terminate()
            proc.wait(15)


def reports() -> tuple[Any, Any]:
    """Send the synthetic events to a fresh server; return its (DAU, weekly retention)."""
    import evana

    events = synthetic_events()
    last_day = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    with evana_server() as (url, key), evana.Client(url, key) as client:
        for start in range(0, len(events), 2000):
            result = client.send_batch(events[start : start + 2000])
            if result.rejected:
                raise RuntimeError(f"events rejected: {result.rejected[:3]}")
        dau = client.stats.dau(since=FIRST_DAY, until=last_day)
        retention = client.stats.retention(
            since=FIRST_DAY, until=last_day, period="week", periods=12
        )
    print(f"sent {len(events):,} events of {len({e['user_id'] for e in events}):,} users")
    return dau, retention


def dau_chart(dau: Any) -> Path:
    """DAU per day with its 7-day average."""
    days = [row.date for row in dau.series]
    users = [row.users for row in dau.series]
    average = [
        sum(users[max(0, i - 6) : i + 1]) / len(users[max(0, i - 6) : i + 1])
        for i in range(len(users))
    ]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.bar(days, users, color="#9fa8da", width=0.8, label="DAU")
    ax.plot(days, average, color=BLUE, lw=2, label="7-day average")
    ax.set_ylabel("distinct users")
    ax.legend(frameon=False, loc="upper left")
    ax.set_title(
        f"DAU, {days[0]:%d %b} to {days[-1]:%d %b %Y}: client.stats.dau()",
        loc="left",
        weight="bold",
        color=INK,
    )
    fig.autofmt_xdate()
    return _save(fig, "dau")


def retention_heatmap(retention: Any) -> Path:
    """Weekly cohorts: the share of each cohort active k weeks later."""
    cohorts = retention.cohorts
    periods = max(len(c.retained) for c in cohorts)
    grid = [
        [(n / c.size * 100 if n is not None and c.size else math.nan) for n in c.retained]
        + [math.nan] * (periods - len(c.retained))
        for c in cohorts
    ]
    fig, ax = plt.subplots(figsize=(10, 5.2))
    image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=70, aspect="auto")
    image.cmap.set_bad("white")
    for i, cohort in enumerate(cohorts):
        for k, n in enumerate(cohort.retained):
            if n is None:
                continue
            rate = n / cohort.size * 100 if cohort.size else 0
            color = "white" if rate > 45 else INK
            ax.text(k, i, f"{rate:.0f}%", ha="center", va="center", fontsize=7.5, color=color)
    ax.set_xticks(range(periods), [f"+{k}" for k in range(periods)])
    ax.set_yticks(
        range(len(cohorts)), [f"{c.cohort:%d %b}  ({c.size})" for c in cohorts], fontsize=8
    )
    ax.set_xlabel("weeks after the cohort's first week")
    ax.set_ylabel("cohort: ISO week of first event (users)")
    ax.spines["left"].set_visible(False)
    ax.spines["bottom"].set_visible(False)
    ax.tick_params(length=0)
    ax.set_title(
        'Weekly retention: client.stats.retention(period="week", periods=12)',
        loc="left",
        weight="bold",
        color=INK,
    )
    fig.colorbar(image, ax=ax, fraction=0.025, label="% of the cohort active (70%+ darkest)")
    return _save(fig, "retention")


def main(argv: list[str] | None = None) -> None:
    """Draw the pictures named by ``--only``, or all of them."""
    drawings: dict[str, Callable[[], Any]] = {
        "architecture": architecture,
        "retry-timeline": retry_timeline,
        "data": lambda: [
            f(r) for f, r in zip((dau_chart, retention_heatmap), reports(), strict=True)
        ],
    }
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="+", choices=list(drawings), default=list(drawings))
    args = parser.parse_args(argv)
    _style()
    for name in args.only:
        drawings[name]()


if __name__ == "__main__":
    main()
