"""``evana funnel``: how many persons went through a sequence of events, step by step."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import typer

from ._errors import UsageError
from ._output import Format
from ._remote import ApiKeyOption, UrlOption
from ._stats import FormatOption, Until, ask

if TYPE_CHECKING:
    from evana.insights import FunnelResult

__all__ = ["funnel"]


class OrderChoice(enum.StrEnum):
    """How a funnel's steps must follow each other."""

    ordered = "ordered"
    any = "any"


def funnel(
    steps: Annotated[
        list[str],
        typer.Argument(metavar="STEP...", help="2 to 10 event names, in order", show_default=False),
    ],
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="First day people may enter: YYYY-MM-DD, today, yesterday, or a span (30d, 12w)",
            show_default=False,
        ),
    ],
    until: Until = "today",
    window: Annotated[
        str,
        typer.Option("--window", help="Time to finish after entering: 30m, 12h, 14d (≤ 365d)"),
    ] = "14d",
    order: Annotated[
        OrderChoice,
        typer.Option("--order", help="ordered: steps in this order; any: in any order"),
    ] = OrderChoice.ordered,
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Funnel: persons reaching each step, conversion and median time between steps.

    Example: evana funnel signup activate purchase --window 7d --since 30d
    """
    import datetime as dt

    from evana import Client
    from evana.insights import MAX_FUNNEL_STEPS

    from ._insight_reports import FunnelView, print_insight

    if not 2 <= len(steps) <= MAX_FUNNEL_STEPS:
        raise UsageError(f"a funnel has 2 to {MAX_FUNNEL_STEPS} steps, not {len(steps)}")
    span: list[dt.date] = []

    def call(client: Client, first: dt.date | None, last: dt.date) -> FunnelResult:
        assert first is not None  # --since is required
        span[:] = [first, last]
        return client.query.funnel(steps, first, last, window=window, order=order.value)

    report = ask(since, until, url, api_key, call)
    print_insight(
        report, output, funnel=FunnelView(str(span[0]), str(span[1]), window, order.value)
    )
