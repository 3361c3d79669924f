"""``evana trends``: events over time (counts, persons or a property's sum, average, ...)."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from ._errors import UsageError
from ._output import Format
from ._remote import ApiKeyOption, UrlOption
from ._stats import FormatOption, PeriodChoice, Until, ask
from ._where import WhereOption, parse_where

__all__ = ["trends"]


class MathChoice(enum.StrEnum):
    """What a trend counts per interval."""

    total = "total"
    users = "users"
    sum = "sum"
    avg = "avg"
    min = "min"
    max = "max"
    median = "median"
    p90 = "p90"
    p95 = "p95"
    p99 = "p99"


ALL_EVENTS = "*"


def trends(
    events: Annotated[
        list[str],
        typer.Argument(
            metavar="EVENT...",
            help=f"Event names, one line each (up to 10); '{ALL_EVENTS}' for every event",
            show_default=False,
        ),
    ],
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="First day: YYYY-MM-DD, today, yesterday, or a span back from today (30d, 12w)",
            show_default=False,
        ),
    ],
    until: Until = "today",
    math: Annotated[
        MathChoice,
        typer.Option(
            "--math",
            "-m",
            help="total (events), users (distinct persons), or sum, avg, min, max, median,"
            " p90, p95, p99 of --property",
        ),
    ] = MathChoice.total,
    property: Annotated[
        str | None,
        typer.Option("--property", "-p", help="The numeric event property the math is over"),
    ] = None,
    where: WhereOption = None,
    breakdown: Annotated[
        str | None,
        typer.Option(
            "--breakdown", "-b", help="Split each line by this property (person.NAME: a person's)"
        ),
    ] = None,
    breakdown_limit: Annotated[
        int,
        typer.Option("--breakdown-limit", min=1, max=1000, help="Values kept; the rest: other"),
    ] = 10,
    interval: Annotated[
        PeriodChoice, typer.Option("--interval", "-i", help="day, week (ISO, Monday) or month")
    ] = PeriodChoice.day,
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Trends: a value per day, week or month for each event, and its total.

    Example: evana trends purchase --math sum --property amount --breakdown plan --since 30d
    """
    from evana.insights import MAX_SERIES, PROPERTY_MATHS

    from ._insight_reports import print_insight

    if math.value in PROPERTY_MATHS and property is None:
        raise UsageError(f"--math {math.value} needs --property (the number to aggregate)")
    if len(events) > MAX_SERIES:
        raise UsageError(f"at most {MAX_SERIES} events (one line each), not {len(events)}")
    filters = parse_where(where)
    names = [None if name == ALL_EVENTS else name for name in events]
    report = ask(
        since,
        until,
        url,
        api_key,
        lambda client, first, last: client.query.trends(
            names,
            first or since,  # never None: --since is required
            last,
            interval=interval.value,
            math=math.value,
            property=property,
            where=filters,
            breakdown=breakdown,
            breakdown_limit=breakdown_limit,
        ),
    )
    print_insight(report, output, properties=[property] * len(names))
