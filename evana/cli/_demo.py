"""``evana demo``: make a synthetic product's events, ingest them, show what evana reports.

The fastest way to see evana work: a few weeks of a growing product (see ``_demo_data``) go
through the same pipeline as ``evana ingest`` into the server at ``EVANA_URL`` when one answers
to ``EVANA_API_KEY``, or else (or with ``--embedded``) into a temporary embedded server started
for the purpose; then the DAU, top-events and retention reports of those weeks are printed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from ._errors import UsageError
from ._ingest import run_ingest, show_summary, summary_of
from ._jsonlines import Source
from ._output import Format, console, err_console, print_json
from ._progress import wanted
from ._rejects import RejectsLog
from ._remote import ApiKeyOption, Remote, UrlOption, configured, explained
from ._reports import print_report
from ._words import counted

__all__ = ["demo"]


def _reachable(target: Remote) -> bool:
    """Whether a server answers at all (one attempt); one that refuses the key is an error."""
    from evana.client import RetryPolicy
    from evana.errors import TransportError

    with target.client(retry=RetryPolicy(budget=0)) as probe, explained(target):
        try:
            probe.send_batch([])
        except TransportError:
            return False
    return True


@contextlib.contextmanager
def _server(embedded: bool, url: str | None, api_key: str | None) -> Iterator[Remote]:
    if not embedded:
        target = configured(url, api_key, "admin")  # no key: only a server of our own will do
        if target is not None and _reachable(target):
            err_console.print(f"Sending the demo events to {target.url}.", soft_wrap=True)
            yield target
            return
        why = "No API key is set" if target is None else f"No server answers at {target.url}"
        err_console.print(f"{why}: starting a temporary embedded server.", soft_wrap=True)
    from ._embedded import temporary_server

    with temporary_server() as (server_url, key):
        yield Remote(server_url, key, "admin")


def demo(
    users: Annotated[int, typer.Option(min=1, max=100_000, help="Users in the data set")] = 2000,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days, ending yesterday (UTC)")] = 28,
    seed: Annotated[int, typer.Option(help="Same seed, same events (ids included)")] = 7,
    embedded: Annotated[
        bool, typer.Option("--embedded", help="Use a temporary embedded server, never EVANA_URL")
    ] = False,
    output: Annotated[
        Format, typer.Option("--format", "-f", help="table, or json: one object of all reports")
    ] = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """See evana work: ingest a synthetic product's events, print DAU, top events, retention.

    The data: users who sign up over the last --days days (ending yesterday, UTC), come back
    with decaying odds, and do a Zipf mix of events. It goes to the server at EVANA_URL with
    EVANA_API_KEY (an admin key: it sends and reads) or, when none answers, to a temporary
    embedded server.

    Example: evana demo --users 5000 --days 42
    """
    if output is Format.csv:
        raise UsageError("evana demo prints several reports: use --format table or json")
    from ._demo_data import demo_lines

    # Whole days only, ending yesterday: today's DAU would be a partial day.
    last = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=days - 1)
    source = Source("-")
    source.label = f"demo ({counted(users, 'user')}, {counted(days, 'day')})"
    log = RejectsLog([source])
    with _server(embedded, url, api_key) as target:
        lines = enumerate(demo_lines(users, days, seed, last), 1)
        tally = run_ingest([(source, lines)], target, log, progress=wanted(None))
        summary = summary_of(tally, [source], log, dry_run=False)
        with target.client() as client, explained(target):
            reports: dict[str, Any] = {
                "dau": client.stats.dau(first, last),
                "top": client.stats.top_events(first, last, limit=10),
                # From the Monday of the first week: its cohort is counted whole.
                "retention": client.stats.retention(
                    first - dt.timedelta(days=first.weekday()), last, period="week", periods=6
                ),
            }
    if output is Format.json:
        print_json({"ingest": summary} | {k: v.model_dump(mode="json") for k, v in reports.items()})
        return
    show_summary(summary, log, output)
    print_report(reports["dau"], output, title="Daily active users")
    print_report(reports["top"], output)
    print_report(reports["retention"], output, counts=True)
    console.print(
        "Now try your own events: evana ingest events.jsonl, then evana stats --help",
        style="dim",
        soft_wrap=True,
    )
