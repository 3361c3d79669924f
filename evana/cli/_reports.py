"""How each report looks: JSON as the API sent it, CSV with a header, tables to read at a glance.

DAU/WAU/MAU get a bar per day and a sparkline of the whole range; top events a bar per name;
retention the classic cohort triangle, each cell's rate shaded from pale (few came back) to deep
(most did), with the counts on request and a size-weighted average row at the bottom.

Every table fits the console's width (``COLUMNS``, else the terminal's) without cutting a
number: bars get shorter or go, secondary columns go, a sparkline longer than the table gives
each mark to several days (and says so), and a retention triangle too wide for the screen is
printed as several tables, a few periods each. Nothing is dropped: what does not fit a narrow
table is still in ``--format csv``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

from evana.schema import ActiveUsers, Retention, TopEvents

from ._output import Format, console, fits, needed, print_csv, print_json, print_table

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


def fitted_sparkline(values: list[int], width: int) -> tuple[str, int]:
    """A sparkline of at most ``width`` marks, and how many values each mark stands for (the
    largest of them, so a peak never disappears).

    >>> fitted_sparkline([0, 1, 2, 4, 8], 10)
    ('▁▂▃▅█', 1)
    >>> fitted_sparkline([0, 1, 2, 4, 8, 0], 3)
    ('▁▄█', 2)
    """
    step = max(1, math.ceil(len(values) / max(1, width)))
    marks = [max(values[i : i + step]) for i in range(0, len(values), step)]
    return sparkline(marks), step


def _titled(table: Table, title: str) -> Table:
    # A title is kept on one line when the screen allows it; a narrower screen wraps it. Set
    # last: the width it asks for must not count when the columns are fitted.
    table.title, table.title_justify = title, "left"
    table.min_width = min(len(title), console.width)
    return table


def _natural_width(table: Table) -> int:
    from rich.measure import Measurement

    return Measurement.get(console, console.options, table).maximum


def _active_table(report: ActiveUsers, title: str) -> Table:
    from rich.table import Table

    values = [row.users for row in report.series]
    largest = max(values, default=0)

    def build(weekday: bool, bar_width: int) -> Table:
        table = Table()
        table.add_column("date", no_wrap=True)
        if weekday:
            table.add_column("", style="dim", no_wrap=True)
        table.add_column("users", justify="right", no_wrap=True)
        if bar_width:
            table.add_column("", style="cyan", no_wrap=True)
        for row in report.series:
            cells = [str(row.date), *([row.date.strftime("%a")] if weekday else [])]
            cells.append(f"{row.users:,}")
            if bar_width:
                cells.append(bar(row.users, largest, bar_width))
            table.add_row(*cells)
        return table

    table = build(True, 0)
    if not fits(table):
        table = build(False, 0)
    else:
        room = console.width - needed(table) - 3  # the bar column's padding and rule
        if room >= 4:
            table = build(True, min(BAR_WIDTH, room))
    table = _titled(table, f"{title}, {report.since} to {report.until}")
    if values:
        mean = sum(values) / len(values)
        # The caption wraps at the table's width: the sparkline must fit in it, on one line.
        spark, step = fitted_sparkline(values, _natural_width(table) - 2)
        per = f" · a mark is {step} days" if step > 1 else ""
        table.caption = f"{spark}\nmin {min(values):,} · mean {mean:,.0f} · max {largest:,}{per}"
    return table


def _top_table(report: TopEvents) -> Table:
    from rich.table import Table

    largest = max((row.count for row in report.events), default=0)

    def build(rank: bool, per_user: bool, bar_width: int) -> Table:
        table = Table()
        if rank:
            table.add_column("#", justify="right", style="dim", no_wrap=True)
        table.add_column("event", overflow="fold")
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("users", justify="right", no_wrap=True)
        if per_user:
            table.add_column("per user", justify="right", style="dim", no_wrap=True)
        if bar_width:
            table.add_column("", style="cyan", no_wrap=True)
        for number, row in enumerate(report.events, 1):
            cells = [*([str(number)] if rank else []), row.event, f"{row.count:,}"]
            cells.append(f"{row.users:,}")
            if per_user:
                cells.append(f"{row.count / row.users:.1f}" if row.users else "")
            if bar_width:
                cells.append(bar(row.count, largest, bar_width))
            table.add_row(*cells)
        if not report.events:
            table.caption = "No events in this range."
        return table

    title = f"Top events, {report.since} to {report.until}"
    for rank, per_user in ((True, True), (True, False), (False, False)):
        table = build(rank, per_user, 0)
        if fits(table):
            room = console.width - needed(table) - 3
            if room >= 4:
                table = build(rank, per_user, min(BAR_WIDTH // 2, room))
            break
    return _titled(table, title)


def _retention_tables(report: Retention, counts: bool) -> list[Table]:
    """The cohort triangle, as one table when it fits the screen, else as several tables of
    consecutive periods (each with the cohorts, their sizes and the average row)."""
    width = max((len(c.retained) for c in report.cohorts), default=0)
    tables: list[Table] = []
    start = 0
    while start < width or not tables:
        end = width
        table = _retention_table(report, counts, start, end)
        while end - start > 1 and not fits(table):
            end -= 1
            table = _retention_table(report, counts, start, end)
        tables.append(table)
        start = max(end, start + 1)
    for table in tables[:-1]:
        table.caption = None  # said once, under the last part
    return tables


def _retention_table(report: Retention, counts: bool, first: int, end: int) -> Table:
    from rich import box
    from rich.table import Table

    width = max((len(c.retained) for c in report.cohorts), default=0)
    title = f"Retention by {report.period}, cohorts from {report.since} to {report.until}"
    if first or end < width:
        title += f", {report.period}s {first} to {end - 1}"
    table = Table(
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
    for k in range(first, end):
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
        cells += [""] * (width - len(cells))
        label = cohort.cohort.strftime("%Y-%m") if report.period == "month" else str(cohort.cohort)
        table.add_row(label + " ", f"{cohort.size:,} ", *cells[first:end])
    if len(report.cohorts) > 1:
        table.add_section()
        average = [_cell(t, s, counts) if s else "" for t, s in zip(totals, sizes, strict=True)]
        total = sum(c.size for c in report.cohorts)
        table.add_row("all ", f"{total:,} ", *average[first:end], style="bold")
    if any_partial:
        table.caption = (
            f"{table.caption}; * the {report.period} is not over on {report.until}"
            " (left out of the averages)"
        )
    return _titled(table, title)


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
        print_table(_active_table(report, title))
    elif isinstance(report, TopEvents):
        print_table(_top_table(report))
    else:
        for table in _retention_tables(report, counts):
            print_table(table)
