"""``evana demo``: make a synthetic product's events, ingest them, show what evana reports.

The fastest way to see evana work: a few weeks of a growing product (see ``_demo_data``) go
through the same pipeline as ``evana ingest`` into the server at ``EVANA_URL`` when one answers
to ``EVANA_API_KEY``, or else (or with ``--embedded``) into a temporary embedded server started
for the purpose; then the DAU, top-events and retention reports of those weeks are printed.

In production mode a ``202`` means queued, not written: the worker writes the events a moment
later. So the demo reads its reports only once the server counts every event it sent (the
top-events counts reach the demo's own, polled for at most ``--wait`` seconds); it never
prints figures of a half-written data set.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._errors import CliError, UsageError
from ._ingest import run_ingest, show_summary, summary_of
from ._jsonlines import Source
from ._output import Format, console, err_console, print_json
from ._progress import wanted
from ._rejects import RejectsLog
from ._remote import ApiKeyOption, Remote, UrlOption, configured, explained
from ._reports import print_report
from ._words import counted

if TYPE_CHECKING:
    from evana import Client

__all__ = ["demo"]

#: Top-events rows asked for while waiting: more than the demo has event names.
_ALL_NAMES = 1000
_POLL_SECONDS = 0.25


class _Sent:
    """How many events of each name the demo sends, counted as the lines go by."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def tap(self, lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        for number, line in lines:
            self.counts[json.loads(line)["event"]] += 1
            yield number, line

    def counted(self, client: Client, first: dt.date, last: dt.date) -> int:
        """How many of the demo's events the server's reports count now."""
        top = client.stats.top_events(first, last, limit=_ALL_NAMES)
        seen = {row.event: row.count for row in top.events}
        return sum(min(seen.get(name, 0), n) for name, n in self.counts.items())

    def wait(
        self, client: Client, first: dt.date, last: dt.date, seconds: float, rejected: int = 0
    ) -> None:
        """Return once the server counts every event sent; a :class:`CliError` after
        ``seconds`` (the worker may be stopped or far behind)."""
        # A line the server refused is never counted (none should be: the data set is valid).
        total = sum(self.counts.values()) - rejected
        deadline, told = time.monotonic() + seconds, False
        while (counted := self.counted(client, first, last)) < total:
            if time.monotonic() >= deadline:
                raise CliError(
                    f"after {seconds:g} s the server counts {counted:,} of the {total:,} demo"
                    " events it accepted, so its reports would be partial: is `evana worker`"
                    " running and keeping up? (wait longer with --wait)"
                )
            if not told:
                err_console.print(
                    f"Waiting for the server to write the demo events ({counted:,} of"
                    f" {total:,} counted so far)...",
                    soft_wrap=True,
                )
                told = True
            time.sleep(_POLL_SECONDS)


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
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait for the server to write every demo event before reporting"
            " (production mode: the worker writes them)",
        ),
    ] = 60.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """See evana work: ingest a synthetic product's events, print DAU, top events, retention.

    The data: users who sign up over the last --days days (ending yesterday, UTC), come back
    with decaying odds, and do a Zipf mix of events. It goes to the server at EVANA_URL with
    EVANA_API_KEY (an admin key: it sends and reads) or, when none answers, to a temporary
    embedded server. The reports are read once the server counts every demo event (at most
    --wait seconds: in production mode the worker writes them after the API accepts them).

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
    sent = _Sent()
    with _server(embedded, url, api_key) as target:
        lines = sent.tap(enumerate(demo_lines(users, days, seed, last), 1))
        tally = run_ingest([(source, lines)], target, log, progress=wanted(None))
        summary = summary_of(tally, [source], log, dry_run=False)
        with target.client() as client, explained(target):
            sent.wait(client, first, last, wait, summary["rejected"])
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
