"""Alembic migrations shipped inside the package, applied programmatically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ._database import Database

__all__ = ["VERSION_TABLE", "current_revision", "downgrade", "head_revision", "upgrade"]

#: Our own version table, so an application's Alembic history can share the database.
VERSION_TABLE = "evana_alembic_version"
_SCRIPTS = Path(__file__).with_name("migrations")


def _config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["database"] = db
    return config


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; concurrent callers wait for each other.

    Returns the revision the database is at afterwards.
    """
    return _run(db, command.upgrade, revision)


def downgrade(db: Database, revision: str) -> str | None:
    """Undo migrations down to ``revision``; returns the revision the database is at."""
    return _run(db, command.downgrade, revision)


def _run(db: Database, step: Callable[[Config, str], None], revision: str) -> str | None:
    config = _config(db)
    with db.classified(), db.engine.connect() as plain, db.dialect.migration_lock(plain):
        conn = plain.execution_options(evana_write=True)
        conn.commit()  # the lock is held by the session; the migration runs in its own transaction
        config.attributes["connection"] = conn
        step(config, revision)
        conn.commit()
    return current_revision(db)


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    with db.classified(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def head_revision() -> str | None:
    """The newest revision this version of evana ships."""
    return ScriptDirectory(str(_SCRIPTS)).get_current_head()
