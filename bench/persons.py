"""Persons at scale: the cost of links on ingest and on reports, and how long one merge takes.

The same generated events are stored twice through evana's storage layer into PostgreSQL: once
with 20% of users split over an anonymous id and a known id and never linked, once with the
same split plus one ``$identify`` per split user at the moment it switches ids. The ratio of
the two ingest rates is the cost of links; the reports of both databases are timed warm; then a
person whose two ids each hold 1,000 days of history is merged, and the merge is timed.

    python -m bench.persons                            # 10M events, 400k users
    python -m bench.persons --events 50000 --users 2000   # CI smoke
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from evana.server._analytics import AnalyticsService
from evana.server._batch import NormalizedEvent
from evana.server._storage import Database, EventStore, PersonDirectory, upgrade

from ._evana import fresh_postgres
from ._report import print_table, time_call, write_json
from .data import EVENT_NAMES, EventSet, generate

#: Ingest with links at least this fraction of ingest without (the issue's "within 15%").
TARGET_INGEST = 0.85
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def split_rows(
    data: EventSet, share: float, links: bool
) -> tuple[list[list[NormalizedEvent]], int]:
    """Batches of 10k events; each split user's events before its median are anonymous."""
    rng = np.random.default_rng(11)
    split = rng.random(int(data.user.max()) + 1) < share
    order = np.lexsort((data.micros, data.user))
    users, micros = data.user[order], data.micros[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    switch = np.zeros(len(split), dtype=np.int64)  # the first known event's time, per user
    middle = starts + counts // 2
    switch[users[starts]] = micros[middle]
    now = dt.datetime.now(dt.UTC)
    rows: list[NormalizedEvent] = []
    for i, (event_id, name, user_id, stamp) in enumerate(data.rows()):
        number = int(data.user[i])
        if split[number] and int(data.micros[i]) < switch[number]:
            user_id = f"anon_{number:07d}"
        rows.append(NormalizedEvent(event_id, name, user_id, stamp, None, now))
    linked = 0
    if links:
        for number in np.flatnonzero(split & (counts_by_user(data) > 1)):
            stamp = _EPOCH + dt.timedelta(microseconds=int(switch[number]))
            props = {"$anon_distinct_id": f"anon_{number:07d}"}
            rows.append(
                NormalizedEvent(
                    uuid.uuid4(), "$identify", data.user_id(int(number)), stamp, props, now
                )
            )
            linked += 1
        rows.sort(key=lambda row: row.timestamp)
    return [rows[i : i + 10_000] for i in range(0, len(rows), 10_000)], linked


def counts_by_user(data: EventSet) -> np.ndarray:
    return np.bincount(data.user, minlength=int(data.user.max()) + 1)


def ingest(url: str, batches: list[list[NormalizedEvent]]) -> float:
    """Store every batch; return events per second."""
    db = Database(url)
    upgrade(db)
    store = EventStore(db)
    total = sum(len(batch) for batch in batches)
    start = time.perf_counter()
    for batch in batches:
        store.write(batch)
    elapsed = time.perf_counter() - start
    db.dispose()
    return total / elapsed


def reports(url: str, data: EventSet, repeat: int) -> dict[str, float]:
    """Warm median ms of each report over the whole range."""
    db = Database(url)
    service = AnalyticsService(db)
    since, until = data.first_day, data.last_day
    calls: dict[str, Any] = {
        "dau": lambda: service.active_users("dau", since, until),
        "wau": lambda: service.active_users("wau", since, until),
        "mau": lambda: service.active_users("mau", since, until),
        "top-events": lambda: service.top_events(since, until, 10),
        "retention (week)": lambda: service.retention(since, until, "week", 8),
        "retention (day, events)": lambda: service.retention(
            since, until, "day", 14, EVENT_NAMES[0], EVENT_NAMES[1]
        ),
    }
    out = {name: time_call(fn, repeat)[1] for name, fn in calls.items()}
    db.dispose()
    return out


def long_merge(url: str, days: int = 1000) -> float:
    """Ms to merge a person whose two ids each have an event on each of ``days`` days."""
    db = Database(url)
    store = EventStore(db)
    first = dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    for who in ("old_anon", "old_user"):
        history = [
            NormalizedEvent(uuid.uuid4(), "view_page", who, first + dt.timedelta(days=d), None, now)
            for d in range(days)
        ]
        store.write(history)
    link = NormalizedEvent(
        uuid.uuid4(), "$identify", "old_user", now, {"$anon_distinct_id": "old_anon"}, now
    )
    start = time.perf_counter()
    store.write([link])
    elapsed = (time.perf_counter() - start) * 1000
    with db.read() as conn:
        persons = PersonDirectory(db).snapshot(conn)
    assert len(persons.merged) >= 1
    db.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=400_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--share", type=float, default=0.2, help="users merged from two ids")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--database", default="evana_bench_persons", help="PostgreSQL databases' name prefix"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the figures")
    args = parser.parse_args()
    data = generate(args.events, args.users, args.days)
    plain, _ = split_rows(data, args.share, links=False)
    linked_batches, links = split_rows(data, args.share, links=True)
    without_url, with_url = (
        fresh_postgres("evana_bench_nolinks"),
        fresh_postgres("evana_bench_links"),
    )
    rate_without = ingest(without_url, plain)
    rate_with = ingest(with_url, linked_batches)
    times_without = reports(without_url, data, args.repeat)
    times_with = reports(with_url, data, args.repeat)
    merge_ms = long_merge(with_url)
    ratio = rate_with / rate_without
    print_table(
        f"ingest, {len(data):,} events, {links:,} links ({args.share:.0%} of users on two ids)",
        ["load", "events/s", "ratio", "target"],
        [
            ["without links", round(rate_without), "", ""],
            ["with links", round(rate_with), round(ratio, 3), f">= {TARGET_INGEST}"],
        ],
    )
    print_table(
        "reports over the whole range, warm median ms",
        ["report", "ids only", "persons", "ratio"],
        [
            [name, round(ms, 2), round(times_with[name], 2), round(times_with[name] / ms, 2)]
            for name, ms in times_without.items()
        ],
    )
    print_table("one merge", ["person", "ms"], [["two ids x 1,000 days", round(merge_ms, 1)]])
    write_json(
        "persons",
        {
            "events": len(data),
            "users": args.users,
            "links": links,
            "ingest_without": rate_without,
            "ingest_with": rate_with,
            "ingest_ratio": ratio,
            "ingest_target": TARGET_INGEST,
            "reports_without_ms": times_without,
            "reports_with_ms": times_with,
            "merge_1000_days_ms": merge_ms,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
