"""The database handle: one engine and its dialect, built from a URL at an entry point."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Connection, Engine

from ._dialect import Dialect, classify_error, dialect_for_url, is_database_error

__all__ = ["Database"]


class Database:
    """An engine plus the dialect that knows its differences.

    >>> db = Database("sqlite://")
    >>> db.dialect.name
    'sqlite'
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect: Dialect = dialect_for_url(url)
        self.engine: Engine = self.dialect.create_engine(url)

    @contextlib.contextmanager
    def classified(self) -> Iterator[None]:
        """Turn database errors raised inside the block into Transient/PermanentStorageError."""
        try:
            yield
        except Exception as error:
            if not is_database_error(error):
                raise
            raise classify_error(error) from error

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; database errors come out as Transient/PermanentStorageError."""
        with self.classified(), self.engine.connect() as conn:
            conn = conn.execution_options(evana_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (one snapshot on PostgreSQL for the whole report)."""
        with self.classified(), self.engine.connect() as conn:
            if self.dialect.read_isolation:
                conn = conn.execution_options(isolation_level=self.dialect.read_isolation)
            with conn.begin():
                yield conn

    def ping(self) -> None:
        """Raise a StorageError unless the database answers."""
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
