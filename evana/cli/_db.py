"""``evana db``: database migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from ._config import load_settings
from ._output import console
from ._server_deps import server

__all__ = ["db_app"]

db_app = typer.Typer(help="Database schema (Alembic migrations shipped with evana).")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="SQLAlchemy URL (env EVANA_DATABASE_URL, default sqlite:///./evana.db)"),
]


@db_app.command("upgrade")
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply every migration not yet applied (safe to run concurrently and repeatedly).

    Example: EVANA_DATABASE_URL=postgresql+psycopg://localhost/evana evana db upgrade
    """
    settings = load_settings(database_url=database_url)
    server()
    from evana.server._storage import Database, current_revision, upgrade

    db = Database(settings.database_url)
    try:
        before = current_revision(db)
        after = upgrade(db)
    finally:
        db.dispose()
    if before == after:
        console.print(f"The database is up to date (revision {after}).")
    else:
        console.print(f"Upgraded the database from revision {before or 'none'} to {after}.")
