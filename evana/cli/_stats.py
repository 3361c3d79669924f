"""``evana stats``: DAU, WAU, MAU, top events and retention from the API, as tables, JSON or CSV."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ._errors import UsageError
from ._output import Format
from ._remote import ApiKeyOption, UrlOption, explained, remote
from ._reports import Report, print_report

if TYPE_CHECKING:
    from evana.client import Stats

__all__ = ["parse_day", "stats_app"]

stats_app = typer.Typer(
    help="Reports from the API (needs a read or admin key): dau, wau, mau, top, retention.",
    no_args_is_help=True,
)

R = TypeVar("R", bound=Report)

Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="First day: YYYY-MM-DD, today, yesterday, or a span back from today (30d, 12w)"
        " (default: 30 days; for retention, --periods periods)",
        show_default=False,
    ),
]
Until = Annotated[str, typer.Option("--until", help="Last day, same forms as --since (today: UTC)")]
FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="table, json (the API's JSON) or csv")
]


class PeriodChoice(enum.StrEnum):
    """Retention periods."""

    day = "day"
    week = "week"
    month = "month"


def parse_day(option: str, value: str) -> dt.date:
    """A ``--since``/``--until`` value as a UTC date; a one-line error naming the accepted forms.

    >>> parse_day("--since", "2026-11-02")
    datetime.date(2026, 11, 2)
    >>> parse_day("--since", "last tuesday")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    evana.cli._errors.UsageError: --since: cannot read 'last tuesday' as a date; use YYYY-MM-DD, ...
    """
    from evana.client import parse_date
    from evana.errors import ConfigurationError

    try:
        return parse_date(value)
    except ConfigurationError as exc:
        reason = "" if "expected" in str(exc) else f" ({exc})"
        raise UsageError(
            f"{option}: cannot read {value!r} as a date{reason}; use YYYY-MM-DD, today,"
            " yesterday, or a span back from today such as 30d, 12w, 3m or 1y"
        ) from None


def _fetch(
    since: str | None,
    until: str,
    url: str | None,
    api_key: str | None,
    call: Callable[[Stats, dt.date | None, dt.date], R],
) -> R:
    first = parse_day("--since", since) if since is not None else None
    last = parse_day("--until", until)
    if first is not None and first > last:
        raise UsageError(f"--since ({first}) is after --until ({last})")
    target = remote(url, api_key, "read")
    from evana.client import RetryPolicy

    # A person is waiting: a short retry budget, then a clear error.
    with target.client(retry=RetryPolicy(base_delay=0.2, max_delay=0.5, budget=1)) as client:
        with explained(target):
            return call(client.stats, first, last)


def _active(kind: str, title: str, window: str) -> Callable[..., None]:
    def command(
        since: Since = None,
        until: Until = "today",
        output: FormatOption = Format.table,
        url: UrlOption = None,
        api_key: ApiKeyOption = None,
    ) -> None:
        report = _fetch(since, until, url, api_key, lambda s, a, b: getattr(s, kind)(a, b))
        print_report(report, output, title=title)

    command.__name__ = kind
    command.__doc__ = f"""{title}: distinct users {window}, one row per day.

    Example: evana stats {kind} --since 30d --format csv
    """
    return command


stats_app.command("dau")(_active("dau", "Daily active users", "active each day"))
stats_app.command("wau")(_active("wau", "Weekly active users", "in the 7 days ending each day"))
stats_app.command("mau")(_active("mau", "Monthly active users", "in the 30 days ending each day"))


@stats_app.command("top")
def top(
    since: Since = None,
    until: Until = "today",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Names")] = 10,
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Top events: event names by number of events, with distinct users.

    Example: evana stats top --since 7d --limit 20
    """
    report = _fetch(since, until, url, api_key, lambda s, a, b: s.top_events(a, b, limit))
    print_report(report, output)


@stats_app.command("retention")
def retention(
    since: Since = None,
    until: Until = "today",
    period: Annotated[
        PeriodChoice, typer.Option("--period", help="day, week (ISO, from Monday) or month")
    ] = PeriodChoice.week,
    periods: Annotated[
        int, typer.Option("--periods", min=1, max=400, help="Periods per cohort")
    ] = 8,
    start_event: Annotated[
        str | None,
        typer.Option(help="Cohorts by each user's first such event (default: any event)"),
    ] = None,
    return_event: Annotated[
        str | None,
        typer.Option(help="Count a user back only for this event (default: any event)"),
    ] = None,
    counts: Annotated[
        bool, typer.Option("--counts", help="Show user counts next to the percentages")
    ] = False,
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Retention: how many of each cohort came back 0, 1, 2, ... periods later.

    A user's cohort is the period of their first event (or first --start-event); the table
    is the classic triangle, each cell coloured by its rate.

    Example: evana stats retention --since 12w --period week --start-event signup --counts
    """
    report = _fetch(
        since,
        until,
        url,
        api_key,
        lambda s, a, b: s.retention(
            a,
            b,
            period=period.value,
            periods=periods,
            start_event=start_event,
            return_event=return_event,
        ),
    )
    print_report(report, output, counts=counts)
