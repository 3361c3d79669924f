"""How each report looks: JSON as the API sent it, CSV with a header, tables to read at a glance.

DAU/WAU/MAU get a bar per day and a sparkline of the whole range; top events a bar per name;
retention the classic cohort triangle, each cell's rate shaded from pale (few came back) to deep
(most did), with the counts on request and a size-weighted average row at the bottom.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from evana.schema import ActiveUsers, Retention, TopEvents

from ._output import Format, console, print_csv, print_json

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text

__all__ = ["bar", "print_report", "rate_style", "sparkline"]

Report = ActiveUsers | TopEvents | Retention

_SPARKS = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▏▎▍▌▋▊▉"
BAR_WIDTH = 32


def sparkline(values: list[int]) -> str:
    """One character per value, from ▁ (the smallest) to █ (the largest).

    >>> sparkline([0, 1, 2, 4, 8])
    '▁▂▃▅█'
    """
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1
    return "".join(_SPARKS[round((v - low) / span * (len(_SPARKS) - 1))] for v in values)


def bar(value: int, largest: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``value`` against ``largest``, to an eighth of a character.

    >>> bar(3, 4, width=4)
    '███'
    >>> bar(1, 16, width=4)
    '▎'
    """
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    return ("█" * (eighths // 8) + _EIGHTHS[eighths % 8]).rstrip()


def rate_style(rate: float) -> str:
    """The cell style of a retention rate: a blue that deepens with the rate.

    >>> rate_style(0.0), rate_style(1.0)
    ('#000000 on #eef4fb', 'bold #ffffff on #08306b')
    """
    pale, deep = (0xEE, 0xF4, 0xFB), (0x08, 0x30, 0x6B)
    t = max(0.0, min(1.0, rate)) ** 0.6  # lift the low rates, where most cells are
    rgb = "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(pale, deep, strict=True))
    return f"bold #ffffff on #{rgb}" if t > 0.45 else f"#000000 on #{rgb}"


def _percent(rate: float) -> str:
    if 0 < rate < 0.01:
        return "<1%"
    return f"{rate:.0%}"


def _active_table(report: ActiveUsers, title: str) -> Table:
    from rich.table import Table

    values = [row.users for row in report.series]
    largest = max(values, default=0)
    title = f"{title}, {report.since} to {report.until}"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("date")
    table.add_column("", style="dim")
    table.add_column("users", justify="right")
    table.add_column("", style="cyan", no_wrap=True)
    for row in report.series:
        table.add_row(
            str(row.date), row.date.strftime("%a"), f"{row.users:,}", bar(row.users, largest)
        )
    if values:
        mean = sum(values) / len(values)
        table.caption = (
            f"{sparkline(values)}  min {min(values):,} · mean {mean:,.0f} · max {largest:,}"
        )
    return table


def _top_table(report: TopEvents) -> Table:
    from rich.table import Table

    largest = max((row.count for row in report.events), default=0)
    title = f"Top events, {report.since} to {report.until}"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("#", justify="right", style="dim")
    table.add_column("event")
    table.add_column("count", justify="right")
    table.add_column("users", justify="right")
    table.add_column("per user", justify="right", style="dim")
    table.add_column("", style="cyan", no_wrap=True)
    for rank, row in enumerate(report.events, 1):
        per_user = f"{row.count / row.users:.1f}" if row.users else ""
        table.add_row(
            str(rank),
            row.event,
            f"{row.count:,}",
            f"{row.users:,}",
            per_user,
            bar(row.count, largest, BAR_WIDTH // 2),
        )
    if not report.events:
        table.caption = "No events in this range."
    return table


def _retention_table(report: Retention, counts: bool) -> Table:
    from rich import box
    from rich.table import Table

    width = max((len(c.retained) for c in report.cohorts), default=0)
    title = f"Retention by {report.period}, cohorts from {report.since} to {report.until}"
    table = Table(
        title=title,
        min_width=len(title),
        title_justify="left",
        caption=f"% of each cohort active again k {report.period}s later"
        + (", and how many users" if counts else ""),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        collapse_padding=True,
    )
    label_width = 8 if report.period == "month" else 11
    table.add_column(f"{report.period} of ", no_wrap=True, min_width=label_width)
    table.add_column("users ", justify="right", no_wrap=True, min_width=7)
    for k in range(width):
        table.add_column(f"{k:>3}  ", justify="right", no_wrap=True, min_width=8 if counts else 6)
    totals, sizes = [0] * width, [0] * width
    any_partial = False
    for cohort in report.cohorts:
        cells: list[RenderableType] = []
        for k, kept in enumerate(cohort.retained):
            if kept is None:
                cells.append("")
                continue
            partial = _period_end(cohort.cohort, report.period, k) > report.until
            if not partial:  # a period still running would drag the average down
                totals[k] += kept
                sizes[k] += cohort.size
            any_partial = any_partial or partial
            cells.append(_cell(kept, cohort.size, counts, partial))
        label = cohort.cohort.strftime("%Y-%m") if report.period == "month" else str(cohort.cohort)
        table.add_row(label + " ", f"{cohort.size:,} ", *cells)
    if len(report.cohorts) > 1:
        table.add_section()
        average = [_cell(t, s, counts) if s else "" for t, s in zip(totals, sizes, strict=True)]
        total = sum(c.size for c in report.cohorts)
        table.add_row("all ", f"{total:,} ", *average, style="bold")
    if any_partial:
        table.caption = (
            f"{table.caption}; * the {report.period} is not over on {report.until}"
            " (left out of the averages)"
        )
    return table


def _period_end(cohort: dt.date, period: str, k: int) -> dt.date:
    """The last day of the period ``k`` periods after the one starting on ``cohort``.

    >>> _period_end(dt.date(2026, 11, 2), "week", 1), _period_end(dt.date(2026, 11, 1), "month", 2)
    (datetime.date(2026, 11, 15), datetime.date(2027, 1, 31))
    """
    if period == "day":
        return cohort + dt.timedelta(days=k)
    if period == "week":
        return cohort + dt.timedelta(days=7 * k + 6)
    month = cohort.month + k  # the month after the period's, minus one day
    following = dt.date(cohort.year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def _cell(kept: int, size: int, counts: bool, partial: bool = False) -> Text:
    from rich.text import Text

    if not size:
        return Text("    - ", style="dim")  # an empty cohort has no rate
    rate = kept / size
    text = f" {_percent(rate):>4}{'*' if partial else ' '}"
    if counts:
        # The count goes on a second line of the cell: the triangle keeps its width.
        text += f"\n{kept:>{len(text) - 1},} "
    return Text(text, style=rate_style(rate))


def _csv(report: Report) -> tuple[list[str], list[list[object]]]:
    if isinstance(report, ActiveUsers):
        return ["date", "users"], [[row.date, row.users] for row in report.series]
    if isinstance(report, TopEvents):
        return ["event", "count", "users"], [[r.event, r.count, r.users] for r in report.events]
    width = max((len(c.retained) for c in report.cohorts), default=0)
    header = ["cohort", "size", *(f"{report.period}_{k}" for k in range(width))]
    return header, [[c.cohort, c.size, *c.retained] for c in report.cohorts]


def print_report(report: Report, output: Format, *, title: str = "", counts: bool = False) -> None:
    """Print ``report``: json (exactly the API's JSON), csv (counts, a header row) or a table.

    >>> import datetime as dt
    >>> day = dt.date(2026, 11, 2)
    >>> print_report(ActiveUsers(since=day, until=day, series=[]), Format.json)
    {
      "since": "2026-11-02",
      "until": "2026-11-02",
      "series": []
    }
    """
    if output is Format.json:
        print_json(report.model_dump(mode="json"))
    elif output is Format.csv:
        print_csv(*_csv(report))
    elif isinstance(report, ActiveUsers):
        console.print(_active_table(report, title))
    elif isinstance(report, TopEvents):
        console.print(_top_table(report))
    else:
        _print_wide(_retention_table(report, counts))


def _print_wide(table: Table) -> None:
    """Print ``table``; into a pipe or a file at its natural width, so no cell is ever cropped."""
    if console.is_terminal:
        console.print(table)  # a terminal wraps long lines: cropping the last columns reads better
        return
    from rich.console import Console
    from rich.measure import Measurement

    wide = Console(file=console.file, width=1000, highlight=False, color_system=None)
    needed = Measurement.get(wide, wide.options, table).maximum
    Console(file=console.file, width=needed, highlight=False, color_system=None).print(table)
