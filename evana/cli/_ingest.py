"""``evana ingest``: send JSON-lines events to the API in batches, report what was rejected."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._errors import CliError, UsageError, fail
from ._jsonlines import Source
from ._output import Format, console, err_console, print_csv, print_json, print_table
from ._pipeline import Pipeline, Send, Tally
from ._progress import IngestProgress, wanted
from ._rejects import STDIN_REJECTS, RejectsLog
from ._remote import ApiKeyOption, Remote, UrlOption, explained, remote
from ._words import counted

if TYPE_CHECKING:
    from evana.schema import IngestResult

    from ._judge import Payload

__all__ = ["Local", "ingest", "run_ingest", "show_summary", "summary_of"]

#: The server's default batch limit (EVANA_MAX_BATCH_EVENTS); a server may be set lower.
MAX_BATCH_SIZE = 5000
#: Batches in flight with --database-url: one is written (by a process of its own) while
#: the next is read.
LOCAL_CONCURRENCY = 1
#: Events per write transaction with --database-url (no request size to respect there): each
#: write also commits its rollups and merges crowded ones, a cost per batch, not per event.
LOCAL_BATCH_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Local:
    """A database written to directly (``evana ingest --database-url``), not through the API."""

    url: str


def _send_function(target: Remote, stack: contextlib.ExitStack) -> Send:
    from evana.client import RetryPolicy
    from evana.errors import RateLimitedError, ServiceUnavailableError

    # One attempt first, with nothing in it: an unreachable server or a wrong key fails now,
    # in a second, instead of after the retry budget of a real batch.
    with target.client(retry=RetryPolicy(budget=0)) as probe, explained(target):
        with contextlib.suppress(RateLimitedError, ServiceUnavailableError):
            probe.send_batch([])  # busy, but there: the batches themselves wait and retry
    # Then retries (a restarting server, a 503) for up to two minutes per batch. Gzip costs
    # ~1 µs of CPU per event on each side: worth it over a network, not over loopback.
    retry = RetryPolicy(max_delay=10, budget=120)
    client = stack.enter_context(target.client(retry=retry, timeout=60, gzip=not target.is_local))

    def send(payloads: list[Payload]) -> IngestResult:
        return client.send_batch(payloads)

    return send


Lines = Iterable[tuple[int, bytes]]


def run_ingest(
    inputs: list[tuple[Source, Lines | None]],
    target: Remote | Local | None,
    rejects: RejectsLog,
    *,
    batch_size: int = 2000,
    concurrency: int = 8,
    progress: bool = False,
) -> Tally:
    """Ingest ``inputs``: each a source and its ``(number, line)`` pairs, or None to open it.

    With ``target`` None, only validate; with a :class:`Local` one, write to its database
    directly. Shared by ``evana ingest`` and ``evana demo``.

    Example (a dry run of one file)::

        source = Source("events.jsonl")
        tally = run_ingest([(source, None)], None, RejectsLog([source]))
    """
    sizes = [source.size for source, _ in inputs]
    total = sum(s for s in sizes if s is not None) if None not in sizes else None
    done = 0  # bytes of the inputs already read
    current: Source | None = None
    with contextlib.ExitStack() as stack:
        send: Send | None = None
        if isinstance(target, Local):
            from ._local import local_send

            send = stack.enter_context(local_send(target.url))
            concurrency = min(concurrency, LOCAL_CONCURRENCY)
        elif target is not None:
            send = _send_function(target, stack)
        bar = stack.enter_context(IngestProgress(progress, total))

        def tick() -> None:
            position = current.position() if current is not None else None
            bar.update(done + position if position is not None else None, pipeline.tally.read)

        pipeline = Pipeline(
            send,
            on_reject=rejects.write,
            on_batch=tick,
            batch_size=batch_size,
            concurrency=concurrency,
        )
        with contextlib.ExitStack() as running:
            if target is not None:
                running.enter_context(_failure_context(target, pipeline.tally))
            running.enter_context(pipeline)
            for index, (source, lines) in enumerate(inputs):
                current = source
                with _opened(source, lines) as stream:
                    pipeline.feed(index, stream)
                done += source.size or 0
    return pipeline.tally


@contextlib.contextmanager
def _opened(source: Source, lines: Lines | None) -> Iterator[Lines]:
    if lines is not None:
        yield lines
        return
    with source.open() as stream:
        yield source.lines(stream)


@contextlib.contextmanager
def _failure_context(target: Remote | Local, tally: Tally) -> Iterator[None]:
    # A run that stops half way says how far it got, and that starting over is safe.
    again = "running the same command again counts none of them twice"
    try:
        with explained(target) if isinstance(target, Remote) else contextlib.nullcontext():
            yield
    except CliError as exc:
        raise CliError(f"{exc}; {_accepted(tally.accepted)} before that, and {again}") from None
    except KeyboardInterrupt:
        fail(f"interrupted after {_accepted(tally.accepted)}; {again}", code=130)


def summary_of(
    tally: Tally, sources: list[Source], rejects: RejectsLog, *, dry_run: bool
) -> dict[str, Any]:
    """The run's figures, as ``--format json`` prints them."""
    seconds = tally.seconds
    return {
        "files": [source.label for source in sources],
        "dry_run": dry_run,
        "read": tally.read,
        "accepted": tally.accepted,
        "rejected": tally.rejected,
        "duplicates": tally.duplicates,
        "seconds": round(seconds, 3),
        "events_per_second": round(tally.read / seconds) if seconds > 0 else 0,
        "rejects": rejects.paths,
    }


def show_summary(summary: dict[str, Any], rejects: RejectsLog, output: Format) -> None:
    """Print the run's summary: a table with the first rejects, or JSON / CSV."""
    if output is Format.json:
        print_json(summary)
        return
    if output is Format.csv:
        header = [key for key in summary if key not in ("files", "rejects")]
        row = [
            str(summary[k]).lower() if isinstance(summary[k], bool) else summary[k] for k in header
        ]
        print_csv(header, [row])
        return
    from rich import box
    from rich.table import Table

    verb = "Validated (dry run, nothing sent)" if summary["dry_run"] else "Ingested"
    console.print(f"[bold]{verb}[/] {', '.join(summary['files'])}", soft_wrap=True)
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("read", "valid" if summary["dry_run"] else "accepted", "rejected"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("duplicates", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("events/s", justify="right", no_wrap=True)
    table.add_row(
        f"{summary['read']:,}",
        f"{summary['accepted']:,}",
        f"[red]{summary['rejected']:,}[/]" if summary["rejected"] else "0",
        f"{summary['duplicates']:,}",
        f"{summary['seconds']:.2f} s",
        f"{summary['events_per_second']:,}",
    )
    print_table(table)
    if rejects.first:
        shown = Table(title="Rejected lines", title_justify="left")
        shown.add_column("file", overflow="fold")
        shown.add_column("line", justify="right", no_wrap=True)
        shown.add_column("why", overflow="fold")
        for label, line, error in rejects.first:
            shown.add_row(label, str(line), error)
        print_table(shown)
        more = summary["rejected"] - len(rejects.first)
        where = " and ".join(rejects.paths)
        console.print(f"{'All' if not more else f'{more:,} more, all'} of them are in {where}")


def ingest(
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE... | -",
            help="JSON-lines files (.gz read transparently), or - for stdin",
            show_default=False,
        ),
    ],
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            max=LOCAL_BATCH_SIZE,
            help=f"Events per request (at most {MAX_BATCH_SIZE}; default 2000), or per"
            f" transaction with --database-url (default {LOCAL_BATCH_SIZE:,})",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=32,
            help="Requests in flight (with --database-url: one batch is written while the next"
            " is read)",
        ),
    ] = 8,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help=f"Write rejected lines here (default: <input>.rejects.jsonl; {STDIN_REJECTS}"
            " in this directory for stdin)",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate every line locally; send nothing")
    ] = False,
    output: Annotated[
        Format, typer.Option("--format", "-f", help="Summary as table, json or csv")
    ] = Format.table,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress bar (default: when stderr is a terminal)"
        ),
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Write straight into this database (sqlite:///path or postgresql+psycopg://…)"
            " instead of sending to the API: no server, key or HTTP in between (for a backfill"
            " on the machine that holds the database). Only when given here"
            " (EVANA_DATABASE_URL alone never switches it on);"
            " the database must exist at this version's schema (evana db upgrade). Safe next to"
            " a server running on it: SQLite writers take turns, every write is idempotent.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Send events from JSON-lines files to the API: one event object per line.

    A line's event_id is kept; a line without one gets an id derived from its content, so
    ingesting the same file twice changes nothing. Bad lines (bad JSON, invalid events, or
    refused by the server) are listed with their line numbers and written to the rejects file
    as {"line", "error", "raw"}; the exit status is then 1. "duplicates" counts lines whose
    event_id repeats an earlier line of the run (among the last 100,000); they are not sent.

    With --database-url the batches are written to that database directly, by the server's
    own validation and storage code: the same events stored, the same rejects, the same
    idempotency, without HTTP (for a backfill on the machine that holds the database).

    Example: evana ingest events.jsonl.gz --batch-size 5000

    Example: evana ingest backfill.jsonl.gz --database-url sqlite:///./evana.db
    """
    if files.count("-") > 1:
        raise UsageError("stdin (-) can be read only once")
    if database_url is not None and (url is not None or api_key is not None):
        raise UsageError("--database-url writes to the database directly: drop --url/--api-key")
    if batch_size is None:
        batch_size = 2000 if database_url is None else LOCAL_BATCH_SIZE
    elif batch_size > MAX_BATCH_SIZE and database_url is None:
        raise UsageError(
            f"Invalid value for '--batch-size': at most {MAX_BATCH_SIZE} events per request"
            " (more only with --database-url)"
        )
    sources = [Source(name) for name in files]
    if rejects is not None and not rejects.parent.is_dir():  # found out now, not half way
        raise CliError(f"cannot write rejects to {rejects}: no directory {rejects.parent}")
    target: Remote | Local | None = None
    if database_url is not None:
        target = None if dry_run else Local(database_url)
    elif not dry_run:
        target = remote(url, api_key, "ingest")
    log = RejectsLog(sources, rejects)
    try:
        tally = run_ingest(
            [(source, None) for source in sources],
            target,
            log,
            batch_size=batch_size,
            concurrency=concurrency,
            progress=wanted(progress),
        )
    finally:
        log.close()
    show_summary(summary_of(tally, sources, log, dry_run=dry_run), log, output)
    if tally.rejected:
        err_console.print(f"evana: {counted(tally.rejected, 'line')} rejected", highlight=False)
        raise typer.Exit(1)


def _accepted(count: int) -> str:
    """``1 event was accepted``, ``2 events were accepted``."""
    return f"{counted(count, 'event')} {'was' if count == 1 else 'were'} accepted"
