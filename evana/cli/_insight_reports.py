"""How insights look: trends as a row per date and a column per line, funnels as bars.

Like :mod:`._reports`: ``--format json`` prints exactly the API's JSON, ``csv`` a header row
and the numbers, and a table fits the console (one block per row when it cannot). Stickiness
and lifecycle get a row per day count or period, and a person their ids and properties.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evana.insights import PROPERTY_MATHS as _OF_PROPERTY
from evana.insights import FunnelResult, Lifecycle, Person, Stickiness, Trends

from ._output import Format, console, fits, print_csv, print_json, print_table
from ._reports import BAR_WIDTH, _natural_width, _titled, bar

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["FunnelView", "Insight", "duration", "number", "print_insight", "trend_labels"]

Insight = Trends | FunnelResult | Stickiness | Lifecycle | Person


@dataclass(frozen=True, slots=True)
class FunnelView:
    """What a funnel's answer does not repeat: the range, window and order it was asked for."""

    since: str
    until: str
    window: str
    order: str


def number(value: float | None) -> str:
    """A value of a report for people: thousands grouped, at most two decimals, blank for null.

    >>> number(1234), number(2.5), number(3.0), number(0.3333), number(None)
    ('1,234', '2.5', '3', '0.33', '')
    """
    if value is None:
        return ""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def duration(seconds: float | None) -> str:
    """Seconds as the two largest units that matter.

    >>> duration(42.5), duration(125), duration(7260), duration(93600), duration(None)
    ('42.5s', '2m 5s', '2h 1m', '1d 2h', '')
    """
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + "s"
    whole = int(seconds)
    for size, unit, small, smaller in ((86400, "d", 3600, "h"), (3600, "h", 60, "m")):
        if whole >= size:
            return f"{whole // size}{unit} {whole % size // small}{smaller}"
    return f"{whole // 60}m {whole % 60}s"


def _breakdown(value: str | None) -> str:
    return "(none)" if value is None else ("other" if value == "$other" else value)


def trend_labels(report: Trends, properties: Sequence[str | None] = ()) -> list[str]:
    """A column title per result: the event, the math (of its property), the breakdown value.

    >>> from evana.insights import TrendResult
    >>> def result(math, breakdown=None):
    ...     return TrendResult(series=0, event="buy", math=math, breakdown=breakdown, points=[],
    ...                        total=0)
    >>> trends = Trends(interval="day", since="2026-11-01", until="2026-11-01",
    ...                 results=[result("total", "pro"), result("sum", "pro"),
    ...                          result("users", "$other")])
    >>> trend_labels(trends, ["amount"])
    ['buy pro', 'buy sum(amount) pro', 'buy users other']
    """
    labels = []
    broken_down = any(r.breakdown is not None for r in report.results)
    for result in report.results:
        label = result.event if result.event is not None else "all events"
        if result.math != "total":
            prop = properties[result.series] if result.series < len(properties) else None
            label += f" {result.math}" + (
                f"({prop})" if prop and result.math in _OF_PROPERTY else ""
            )
        if broken_down or result.breakdown is not None:
            label += f" {_breakdown(result.breakdown)}"
        labels.append(label)
    return labels


def _dates(report: Trends) -> list[str]:
    seen: dict[str, None] = {}
    for result in report.results:
        for point in result.points:
            seen.setdefault(str(point.date), None)
    return sorted(seen)


def _trend_rows(report: Trends) -> tuple[list[str], list[list[float | None]]]:
    dates = _dates(report)
    values = [{str(p.date): p.value for p in r.points} for r in report.results]
    return dates, [[column.get(day) for column in values] for day in dates]


def _trends_table(report: Trends, labels: list[str]) -> Table:
    from rich.table import Table

    dates, rows = _trend_rows(report)
    table = Table()
    table.add_column("date", no_wrap=True)
    for label in labels:
        table.add_column(label, justify="right", overflow="fold")
    for day, row in zip(dates, rows, strict=True):
        table.add_row(day, *(number(v) for v in row))
    if report.results:
        table.add_section()
        table.add_row("total", *(number(r.total) for r in report.results), style="bold")
    else:
        table.caption = "No events in this range."
    return _titled(table, f"Trends by {report.interval}, {report.since} to {report.until}")


def _trends_csv(report: Trends, labels: list[str]) -> tuple[list[str], list[list[Any]]]:
    dates, rows = _trend_rows(report)
    body: list[list[Any]] = [[day, *row] for day, row in zip(dates, rows, strict=True)]
    body.append(["total", *(r.total for r in report.results)])
    return ["date", *labels], body


def _funnel_table(report: FunnelResult, view: FunnelView | None) -> Table:
    from rich.table import Table

    entered = report.steps[0].users if report.steps else 0

    def build(bar_width: int) -> Table:
        table = Table()
        table.add_column("#", justify="right", style="dim", no_wrap=True)
        table.add_column("step", overflow="fold")
        if bar_width:
            table.add_column("", style="cyan", no_wrap=True)
        table.add_column("users", justify="right", no_wrap=True)
        table.add_column("conversion", justify="right", no_wrap=True)
        table.add_column("median time", justify="right", no_wrap=True)
        for number_, step in enumerate(report.steps, 1):
            cells = [str(number_), step.event]
            if bar_width:
                cells.append(bar(step.users, entered, bar_width) or " ")
            cells += [f"{step.users:,}", f"{step.conversion:.1%}", duration(step.median_seconds)]
            table.add_row(*cells)
        return table

    table = build(0)
    # Against the natural width: the headers ("median time") must not wrap to make room.
    room = console.width - _natural_width(table) - 3
    if room >= 4:
        table = build(min(BAR_WIDTH, room))
    title = "Funnel"
    if view is not None:
        title += f", {view.since} to {view.until}, within {view.window} ({view.order})"
    table = _titled(table, title)
    if report.steps and entered:
        last = report.steps[-1]
        table.caption = f"{last.conversion:.1%} of {entered:,} got from the first step to the last"
    elif report.steps:
        table.caption = "Nobody entered the funnel in this range."
    return table


def _stickiness_table(report: Stickiness, event: str | None) -> Table:
    from rich.table import Table

    largest = max((row.users for row in report.days), default=0)
    table = Table(caption="persons active on exactly this many days of the range")
    table.add_column("days active", justify="right", no_wrap=True)
    table.add_column("users", justify="right", no_wrap=True)
    table.add_column("", style="cyan", no_wrap=True)
    for row in report.days:
        table.add_row(str(row.days_active), f"{row.users:,}", bar(row.users, largest, 24))
    if not fits(table):
        table.columns.pop()
    title = f"Stickiness, {report.since} to {report.until}" + (f", on {event}" if event else "")
    return _titled(table, title)


def _lifecycle_table(report: Lifecycle, event: str | None) -> Table:
    from rich.table import Table

    table = Table(caption="dormant: active in the period before, not in this one")
    table.add_column(report.period, no_wrap=True)
    for name, style in (
        ("new", "green"),
        ("returning", "blue"),
        ("resurrecting", "yellow"),
        ("dormant", "red"),
    ):
        table.add_column(name, justify="right", style=style, no_wrap=True)
    for row in report.periods:
        table.add_row(
            str(row.date),
            f"{row.new:,}",
            f"{row.returning:,}",
            f"{row.resurrecting:,}",
            f"-{row.dormant:,}" if row.dormant else "0",
        )
    title = f"Lifecycle by {report.period}, {report.since} to {report.until}"
    return _titled(table, title + (f", on {event}" if event else ""))


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _when(moment: dt.datetime | None) -> str:
    return "" if moment is None else moment.isoformat().replace("+00:00", "Z")


def _person_tables(report: Person) -> list[Table]:
    from rich.table import Table

    facts = Table(title="Person", title_justify="left", show_header=False)
    facts.add_column("", style="bold", no_wrap=True)
    facts.add_column("", overflow="fold")
    facts.add_row("distinct ids", ", ".join(report.distinct_ids))
    facts.add_row("first seen", _when(report.first_seen))
    facts.add_row("last seen", _when(report.last_seen))
    props = Table(title="Properties", title_justify="left")
    props.add_column("property", overflow="fold")
    props.add_column("value", overflow="fold")
    for key in sorted(report.properties):
        props.add_row(key, _shown(report.properties[key]))
    if not report.properties:
        props.caption = "No properties set."
    return [facts, props]


def _csv(report: Insight, labels: list[str]) -> tuple[list[str], list[list[Any]]]:
    if isinstance(report, Trends):
        return _trends_csv(report, labels)
    if isinstance(report, FunnelResult):
        header = ["step", "event", "users", "conversion", "median_seconds"]
        steps = [
            [n, s.event, s.users, s.conversion, s.median_seconds]
            for n, s in enumerate(report.steps, 1)
        ]
        return header, steps
    if isinstance(report, Stickiness):
        return ["days_active", "users"], [[r.days_active, r.users] for r in report.days]
    if isinstance(report, Lifecycle):
        header = ["date", "new", "returning", "resurrecting", "dormant"]
        return header, [
            [r.date, r.new, r.returning, r.resurrecting, r.dormant] for r in report.periods
        ]
    rows: list[list[Any]] = [["distinct_id", i] for i in report.distinct_ids]
    rows += [["first_seen", _when(report.first_seen)], ["last_seen", _when(report.last_seen)]]
    rows += [[f"properties.{k}", _shown(v)] for k, v in sorted(report.properties.items())]
    return ["field", "value"], rows


def print_insight(
    report: Insight,
    output: Format,
    *,
    event: str | None = None,
    properties: Sequence[str | None] = (),
    funnel: FunnelView | None = None,
) -> None:
    """Print ``report``: json (exactly the API's JSON), csv (a header row) or table(s).

    ``properties`` names each trend series' property (for column titles), ``funnel`` what a
    funnel was asked for (for its title), ``event`` the event a report was limited to.

    >>> import datetime as dt
    >>> day = dt.date(2026, 11, 2)
    >>> print_insight(Stickiness(since=day, until=day, days=[]), Format.csv)
    days_active,users
    """
    labels = trend_labels(report, properties) if isinstance(report, Trends) else []
    if output is Format.json:
        print_json(report.model_dump(mode="json"))
    elif output is Format.csv:
        print_csv(*_csv(report, labels))
    elif isinstance(report, Trends):
        print_table(_trends_table(report, labels))
    elif isinstance(report, FunnelResult):
        print_table(_funnel_table(report, funnel))
    elif isinstance(report, Stickiness):
        print_table(_stickiness_table(report, event))
    elif isinstance(report, Lifecycle):
        print_table(_lifecycle_table(report, event))
    else:
        for table in _person_tables(report):
            print_table(table)
