"""``evana dlq``: list, show, replay and purge dead letters (talks to NATS directly)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table

from ._config import load_settings
from ._errors import CliError, UsageError
from ._output import Format, console, print_csv, print_json, print_table
from ._server_deps import server
from ._words import counted

if TYPE_CHECKING:
    from evana.server._dlq import DeadLetterQueue

__all__ = ["dlq_app"]

dlq_app = typer.Typer(help="Inspect and replay the dead-letter queue (NATS, production mode).")

T = TypeVar("T")

NatsUrl = Annotated[str | None, typer.Option(help="NATS server (env EVANA_NATS_URL)")]
Prefix = Annotated[
    str | None, typer.Option(help="Subject prefix (env EVANA_NATS_SUBJECT_PREFIX; events)")
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table, json or csv")]
_COLUMNS = ["id", "events", "attempts", "failed_at", "error"]


def _run(
    nats_url: str | None, prefix: str | None, action: Callable[[DeadLetterQueue], Awaitable[T]]
) -> T:
    settings = load_settings(nats_url=nats_url, nats_subject_prefix=prefix)
    if settings.embedded:
        raise CliError("the dead-letter queue lives in NATS: set EVANA_NATS_URL or --nats-url")
    server()
    from evana.server._dlq import DeadLetterQueue

    async def main() -> T:
        async with DeadLetterQueue(settings) as dlq:
            return await action(dlq)

    return asyncio.run(main())


@dlq_app.command("list")
def list_entries(
    output: FormatOption = Format.table, nats_url: NatsUrl = None, prefix: Prefix = None
) -> None:
    """List dead letters, oldest first: id, events, attempts, last failure, error.

    Example: evana dlq list --format json
    """
    rows = [e.summary() for e in _run(nats_url, prefix, lambda dlq: dlq.entries())]
    if output is Format.json:
        print_json(rows)
    elif output is Format.csv:
        print_csv(_COLUMNS, [[row[c] for c in _COLUMNS] for row in rows])
    elif not rows:
        console.print("The dead-letter queue is empty.")
    else:
        table = Table(title="Dead letters")
        for column in _COLUMNS:
            table.add_column(column, no_wrap=column != "error", overflow="fold")
        for row in rows:
            table.add_row(*[str(row[c]) for c in _COLUMNS])
        print_table(table)


@dlq_app.command("show")
def show(
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="The id from `evana dlq list`")],
    output: FormatOption = Format.table,
    nats_url: NatsUrl = None,
    prefix: Prefix = None,
) -> None:
    """Show one dead letter: why it failed, and its events (one JSON object per line).

    Example: evana dlq show 42
    """
    details = _run(nats_url, prefix, lambda dlq: dlq.show(entry_id)).details()
    if output is Format.json:
        print_json(details)
        return
    events: list[dict[str, Any]] = details.pop("data")
    if output is Format.csv:
        print_csv(list(details), [list(details.values())])
        return
    table = Table("field", "value", title=f"Dead letter {entry_id}", show_header=False)
    for name, value in details.items():
        table.add_row(name, str(value))
    console.print(table)
    for event in events:
        console.file.write(json.dumps(event, ensure_ascii=False) + "\n")


@dlq_app.command("replay")
def replay(
    entry_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The id from `evana dlq list`")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter")] = False,
    nats_url: NatsUrl = None,
    prefix: Prefix = None,
) -> None:
    """Send dead letters back to the workers; each is deleted once NATS stored its copy.

    Events keep their ids: replaying twice counts nothing twice.

    Example: evana dlq replay --all
    """
    if (entry_id is None) == (not replay_all):
        raise UsageError("give one dead letter ID or --all")
    if entry_id is not None:
        entry = _run(nats_url, prefix, lambda dlq: dlq.replay(entry_id))
        console.print(f"Replayed dead letter {entry.id} ({counted(entry.letter.events, 'event')}).")
        return
    entries = _run(nats_url, prefix, lambda dlq: dlq.replay_all())
    if not entries:
        console.print("Nothing to replay: the dead-letter queue is empty.")
        return
    events = sum(entry.letter.events for entry in entries)
    letters = counted(len(entries), "dead letter")
    console.print(f"Replayed {letters} ({counted(events, 'event')}).")


@dlq_app.command("purge")
def purge(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    nats_url: NatsUrl = None,
    prefix: Prefix = None,
) -> None:
    """Delete every dead letter, for good.

    Example: evana dlq purge --yes
    """
    if not yes:
        count = len(_run(nats_url, prefix, lambda dlq: dlq.entries()))
        if not count:
            console.print("The dead-letter queue is empty.")
            return
        what = "the dead letter" if count == 1 else f"all {counted(count, 'dead letter')}"
        typer.confirm(f"Delete {what}? Their events are lost", abort=True)
    purged = _run(nats_url, prefix, lambda dlq: dlq.purge())
    console.print(f"Purged {counted(purged, 'dead letter')}.")
