"""``evana db``: database migrations; and how other commands open the configured database.

Only ``evana serve`` and ``evana db upgrade`` may create a database. Every other command that
opens one (``evana keys``, ``evana worker``) checks :func:`require_existing` first, so a
command run from the wrong directory says so instead of making a new empty ``./evana.db`` next
to it (a key written there is one the server never sees).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._config import load_settings
from ._errors import CliError, UsageError
from ._output import console
from ._server_deps import server

if TYPE_CHECKING:
    from rich.progress import Progress

    from evana.server._storage import Database

__all__ = ["db_app", "existing_database", "require_existing", "sqlite_file"]

db_app = typer.Typer(help="Database schema (Alembic migrations shipped with evana).")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="SQLAlchemy URL (env EVANA_DATABASE_URL, default sqlite:///./evana.db)"),
]


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for other databases and in-memory SQLite.

    >>> sqlite_file("sqlite:///./evana.db")
    PosixPath('evana.db')
    >>> sqlite_file("sqlite:////var/lib/evana/evana.db?timeout=5")
    PosixPath('/var/lib/evana/evana.db')
    >>> sqlite_file("sqlite://"), sqlite_file("postgresql+psycopg://db/evana")
    (None, None)
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.split("+", 1)[0] == "sqlite":
        return None
    path, _, query = rest.removeprefix("/").partition("?")
    options = urllib.parse.parse_qs(query)
    if path.startswith("file:"):  # a SQLite URI filename (?uri=true)
        path = urllib.parse.unquote(path.removeprefix("file:"))
    if not path or path == ":memory:" or "memory" in options.get("mode", []):
        return None
    return Path(path)


def require_existing(url: str, hint: str = "") -> None:
    """A :class:`CliError` naming the path and what to do when ``url`` is a SQLite file that
    does not exist (``hint`` adds a way out of the command's own).

    >>> require_existing("sqlite:////nowhere/evana.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    evana.cli._errors.CliError: no evana database at /nowhere/evana.db: run this command where...
    """
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise CliError(
            f"no evana database at {path.resolve()}: run this command where `evana serve` runs"
            f" or point EVANA_DATABASE_URL (or --database-url) at the server's database{hint}"
            " (only `evana serve` and `evana db upgrade` create one)"
        )


def existing_database(url: str, hint: str = "") -> Database:
    """Open the database at ``url``, which must already exist (see :func:`require_existing`):
    a SQLite file is never created here."""
    require_existing(url, hint)
    server()
    from evana.server._storage import Database

    return Database(url)


@db_app.command("upgrade")
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the migrations and build what new tables need for the events already stored.

    Applies every migration not yet applied (safe to run concurrently and repeatedly), builds
    the event times funnels read for events stored before them, then keeps rollups of exactly
    the properties EVANA_INSIGHT_PROPERTIES and EVANA_INSIGHT_NUMBERS name: those added are
    built for the events already stored, one day at a time (both builds are resumable: run it
    again to go on; the API and workers may keep running), those removed are dropped.

    Example: EVANA_DATABASE_URL=postgresql+psycopg://localhost/evana evana db upgrade
    """
    settings = load_settings(database_url=database_url)
    server()
    from evana.server._storage import Database, current_revision, sync_tracked, upgrade

    db = Database(settings.database_url)
    try:
        before = current_revision(db)
        after = upgrade(db)
        if before == after:
            console.print(f"The database is up to date (revision {after}).")
        else:
            console.print(f"Upgraded the database from revision {before or 'none'} to {after}.")
        _build_event_times(db)
        pending = sync_tracked(db, settings.insight_properties, settings.insight_numbers)
        if pending:
            _build_property_rollups(db, pending)
    finally:
        db.dispose()


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _build_event_times(db: Database) -> None:
    """Build the event times (what funnels read) of events stored before they existed."""
    from evana.server._storage import backfill_times, times_to_build

    if not times_to_build(db):
        return
    with _progress() as bar:
        task = bar.add_task("Building event times for funnels (day-event keys)", total=None)
        keys = backfill_times(db, lambda done, total: bar.update(task, completed=done, total=total))
    if keys:
        console.print(f"Built the event times of {keys} day-event keys of stored events.")


def _build_property_rollups(db: Database, pending: list[str]) -> None:
    """Build the rollups of ``pending`` properties for the stored events, with a progress bar."""
    from evana.server._storage import backfill

    names = ", ".join(pending)
    with _progress() as bar:
        task = bar.add_task(f"Building rollups of {names} (days)", total=None)
        days = backfill(db, lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"Built the rollups of {names} for {days} days of stored events.")


def _postgresql(settings_url: str | None, what: str) -> Database:
    """The configured database, which must be PostgreSQL for ``what``."""
    settings = load_settings(database_url=settings_url)
    db = existing_database(settings.database_url)
    if db.dialect.name != "postgresql":
        db.dispose()
        raise CliError(
            f"{what} needs PostgreSQL; on SQLite delete old raw events instead"
            " (docs/operations.md, 'Retention of raw events')"
        )
    return db


def _month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise UsageError(f"--before takes a month as YYYY-MM, not {value!r}") from None


@db_app.command("partition")
def partition(
    months_ahead: Annotated[
        int, typer.Option(min=0, max=24, help="months of partitions to make ready ahead")
    ] = 2,
    database_url: DatabaseUrl = None,
) -> None:
    """PostgreSQL: split the events table into one partition per month.

    Months are those of the time in each UUIDv7 event id; the first run copies every row
    once; on an already partitioned table, only make the next months'
    partitions (workers also do that on their own). Stop the workers for the first run.

    Example: evana db partition
    """
    from evana.server._storage import keep_months_ahead, partition_events
    from evana.server._storage._partitions import months

    db = _postgresql(database_url, "partitioning")
    try:
        today = dt.datetime.now(dt.UTC).date()
        if partition_events(db, today, months_ahead):
            console.print("Partitioned the events table by month.")
        else:
            added = keep_months_ahead(db, today, months_ahead)
            console.print(f"Added {len(added)} month partitions." if added else "Up to date.")
        with db.read() as conn:
            names = [m.name + (" (dropped)" if m.dropped else "") for m in months(conn)]
        console.print("Months: " + (", ".join(names) or "none") + "; other ids: events_other.")
    finally:
        db.dispose()


@db_app.command("drop-months")
def drop_months_command(
    before: Annotated[str, typer.Option(help="drop the months before this one (YYYY-MM)")],
    database_url: DatabaseUrl = None,
) -> None:
    """PostgreSQL: drop whole months of raw events (once `evana db partition` ran).

    Drops the raw events of every month before --before, whole (a truncate, not a delete per row).
    Reports keep their counts; the months' ids stay known, so an
    event of a dropped month sent again is still a duplicate.

    Example: evana db drop-months --before 2026-01
    """
    from evana.server._storage import drop_months
    from evana.server._storage._partitions import is_partitioned

    first = _month(before)
    db = _postgresql(database_url, "dropping months")
    try:
        with db.read() as conn:
            if not is_partitioned(conn):
                raise CliError("the events table is not partitioned: run `evana db partition`")
        dropped = drop_months(db, first)
        for month, held in dropped:
            console.print(f"Dropped {month.name}: {held:,} raw events.")
        if not dropped:
            console.print(f"No month before {before} left to drop.")
    finally:
        db.dispose()
