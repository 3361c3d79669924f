"""Print a retention table: each cohort, its size, and the share of it that came back.

A cohort is the users whose first event fell in one period (a day, an ISO week from Monday, or
a calendar month); column +k is the share of them active k periods later. Needs a ``read`` (or
``admin``) key.

    export EVANA_URL=http://127.0.0.1:8000 EVANA_API_KEY=evana_...
    python examples/retention_report.py --since 2026-09-07 --until 2026-10-04 --period week
"""

from __future__ import annotations

import argparse

import evana
from evana.schema import Retention


def table(report: Retention) -> str:
    """The report as fixed-width text: counts would hide the trend, so rates, with sizes."""
    periods = max((len(c.retained) for c in report.cohorts), default=0)
    lines = [f"{'cohort':<12}{'users':>6}" + "".join(f"{'+' + str(k):>7}" for k in range(periods))]
    for cohort in report.cohorts:
        cells = []
        for count in cohort.retained:
            if count is None:  # that period has not ended yet (it starts after --until)
                cells.append(f"{'':>7}")
            else:
                rate = count / cohort.size * 100 if cohort.size else 0.0
                cells.append(f"{rate:>6.0f}%")
        lines.append((f"{cohort.cohort.isoformat():<12}{cohort.size:>6}" + "".join(cells)).rstrip())
    return "\n".join(lines)


def main() -> None:
    """Read the report through the SDK and print it."""
    parser = argparse.ArgumentParser(description="Print a retention table.")
    parser.add_argument("--since", default="12w", help="first day: YYYY-MM-DD or a span (12w)")
    parser.add_argument("--until", default="today", help="last day (default: today, UTC)")
    parser.add_argument("--period", choices=["day", "week", "month"], default="week")
    parser.add_argument("--periods", type=int, default=8, help="columns per cohort")
    parser.add_argument("--start-event", help="cohorts by each user's first such event")
    parser.add_argument("--return-event", help="count a user back only for this event")
    args = parser.parse_args()
    with evana.Client() as client:
        report = client.stats.retention(
            since=args.since,
            until=args.until,
            period=args.period,
            periods=args.periods,
            start_event=args.start_event,
            return_event=args.return_event,
        )
    adjective = {"day": "daily", "week": "weekly", "month": "monthly"}[args.period]
    print(f"{adjective} retention, {report.since} to {report.until}")
    print(table(report))


if __name__ == "__main__":
    main()
