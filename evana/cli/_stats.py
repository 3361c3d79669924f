"""``evana stats``: DAU, WAU, MAU, top events, retention, stickiness and lifecycle from the API,
as tables, JSON or CSV."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ._errors import UsageError
from ._output import Format
from ._remote import ApiKeyOption, UrlOption, explained, remote
from ._reports import print_report
from ._where import WhereOption, parse_where

if TYPE_CHECKING:
    from evana import Client

__all__ = ["FormatOption", "PeriodChoice", "Until", "ask", "parse_day", "stats_app"]

stats_app = typer.Typer(
    help="Reports from the API (needs a read or admin key): dau, wau, mau, top, retention,"
    " stickiness, lifecycle.",
    no_args_is_help=True,
)

R = TypeVar("R")

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


class RetentionKind(enum.StrEnum):
    """Retention types."""

    first_time = "first_time"
    recurring = "recurring"


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


def ask(
    since: str | None,
    until: str,
    url: str | None,
    api_key: str | None,
    call: Callable[[Client, dt.date | None, dt.date], R],
) -> R:
    """Read ``since``/``until``, then make one read call through the SDK with a key of scope
    ``read``; a query the server (or the SDK, before sending) refuses is a usage error."""
    from evana.errors import InvalidRequestError

    first = parse_day("--since", since) if since is not None else None
    last = parse_day("--until", until)
    if first is not None and first > last:
        raise UsageError(f"--since ({first}) is after --until ({last})")
    target = remote(url, api_key, "read")
    from evana.client import RetryPolicy

    # A person is waiting: a short retry budget, then a clear error.
    with target.client(retry=RetryPolicy(base_delay=0.2, max_delay=0.5, budget=1)) as client:
        with explained(target):
            try:
                return call(client, first, last)
            except InvalidRequestError as exc:
                raise UsageError(f"invalid query: {exc.detail}") from None


def _fetch(
    since: str | None,
    until: str,
    url: str | None,
    api_key: str | None,
    call: Callable[[Any, dt.date | None, dt.date], R],
) -> R:
    return ask(since, until, url, api_key, lambda client, a, b: call(client.stats, a, b))


def _active(kind: str, title: str, window: str) -> Callable[..., None]:
    def command(
        since: Since = None,
        until: Until = "today",
        where: WhereOption = None,
        output: FormatOption = Format.table,
        url: UrlOption = None,
        api_key: ApiKeyOption = None,
    ) -> None:
        filters = parse_where(where)
        report = _fetch(
            since, until, url, api_key, lambda s, a, b: getattr(s, kind)(a, b, where=filters)
        )
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
    where: WhereOption = None,
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Top events: event names by number of events, with distinct users.

    Example: evana stats top --since 7d --limit 20
    """
    filters = parse_where(where)
    report = _fetch(
        since, until, url, api_key, lambda s, a, b: s.top_events(a, b, limit, where=filters)
    )
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
    kind: Annotated[
        RetentionKind,
        typer.Option(
            "--type",
            help="first_time: a cohort per person (their first event); recurring: a person is"
            " in the cohort of every period they were active (or did --start-event)",
        ),
    ] = RetentionKind.first_time,
    cumulative: Annotated[
        bool,
        typer.Option(
            "--cumulative", help="Count a person in period k when back in period k or any later"
        ),
    ] = False,
    where: WhereOption = None,
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
    filters = parse_where(where)
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
            type=kind.value,
            cumulative=cumulative,
            where=filters,
        ),
    )
    print_report(report, output, counts=counts)


EventOption = Annotated[
    str | None,
    typer.Option("--event", "-e", help="Count only this event (default: any event)"),
]


@stats_app.command("stickiness")
def stickiness(
    since: Since = None,
    until: Until = "today",
    event: EventOption = None,
    where: WhereOption = None,
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Stickiness: how many persons were active on exactly 1, 2, 3, ... days of the range.

    Example: evana stats stickiness --since 30d --event view
    """
    from ._insight_reports import print_insight

    filters = parse_where(where)
    report = _fetch(
        since, until, url, api_key, lambda s, a, b: s.stickiness(a, b, event=event, where=filters)
    )
    print_insight(report, output, event=event)


@stats_app.command("lifecycle")
def lifecycle(
    since: Since = None,
    until: Until = "today",
    period: Annotated[
        PeriodChoice, typer.Option("--period", help="day, week (ISO, from Monday) or month")
    ] = PeriodChoice.day,
    event: EventOption = None,
    where: WhereOption = None,
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Lifecycle: new, returning, resurrecting and dormant persons in each period.

    Example: evana stats lifecycle --since 12w --period week
    """
    from ._insight_reports import print_insight

    filters = parse_where(where)
    report = _fetch(
        since,
        until,
        url,
        api_key,
        lambda s, a, b: s.lifecycle(a, b, period=period.value, event=event, where=filters),
    )
    print_insight(report, output, event=event)
