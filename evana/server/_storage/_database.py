"""The database handle: one engine and its dialect, built from a URL at an entry point."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, event, make_url

from evana.errors import TransientStorageError

from ._dialect import Dialect, classify_error, dialect_for_url, is_database_error

log = logging.getLogger("evana.storage")

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
        self.file = DatabaseFile.of(url)
        if self.file is not None:
            event.listen(self.engine, "connect", self.file.on_connect)

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
                # Last, before the commit: a commit into a deleted file would be acknowledged
                # and then lost, with every later write, when the server restarts.
                self.check_file()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (one snapshot on PostgreSQL for the whole report)."""
        with self.classified(), self.engine.connect() as conn:
            if self.dialect.read_isolation:
                conn = conn.execution_options(isolation_level=self.dialect.read_isolation)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def lookup(self) -> Iterator[Connection]:
        """A connection for one single-statement read, outside any transaction: one round trip
        instead of three (BEGIN, the statement, COMMIT), for what every request does (its key)."""
        with self.classified(), self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def ping(self) -> None:
        """Raise a StorageError unless the database answers."""
        self.check_file()
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def check_file(self) -> None:
        """Raise TransientStorageError when the SQLite file opened is gone or replaced."""
        problem = self.file.problem() if self.file is not None else None
        if problem is not None:
            raise TransientStorageError(problem)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class DatabaseFile:
    """The identity (device and inode) of the SQLite file an engine opened, to notice that it
    has gone: a deleted file stays writable through the open connections, so without this
    check writes would succeed, be acknowledged, and vanish at the next restart (which would
    also quietly create a new, empty database at the same path).
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._reported: str | None = None

    @classmethod
    def of(cls, url: str) -> DatabaseFile | None:
        """The file of a SQLite URL; None for other databases and in-memory ones.

        >>> DatabaseFile.of("sqlite:///evana.db").path.endswith("evana.db")
        True
        >>> DatabaseFile.of("sqlite://"), DatabaseFile.of("postgresql+psycopg://db/evana")
        (None, None)
        """
        if not url.startswith("sqlite"):
            return None
        parsed = make_url(url)
        path = parsed.database
        if not path or path == ":memory:" or path.startswith("file:") or "mode=memory" in url:
            return None
        return cls(path)

    def on_connect(self, _dbapi_connection: Any, _record: Any) -> None:
        """Remember the file the first connection opened (SQLite has just created it if new)."""
        with self._lock:
            if self._identity is None:
                with contextlib.suppress(OSError):
                    self._identity = self._stat()

    def _stat(self) -> tuple[int, int]:
        stat = os.stat(self.path)
        return stat.st_dev, stat.st_ino

    def problem(self) -> str | None:
        """Why the file opened is no longer the one at its path; None while it is."""
        with self._lock:
            opened = self._identity
        if opened is None:
            return None  # not opened yet: the first connection will create or open it
        try:
            now: tuple[int, int] | None = self._stat()
        except FileNotFoundError:
            now = None
        except OSError:
            return None  # cannot tell (permissions): the database's own errors will say
        if now == opened:
            return None
        what = "deleted" if now is None else "replaced by another file"
        problem = (
            f"the database file {self.path} was {what} while the server had it open: nothing"
            " more can be saved; restore the file and restart the server"
        )
        if self._reported != problem:
            self._reported = problem
            state = what.split()[0]
            log.error("msg=database_file_gone path=%s state=%s", json.dumps(self.path), state)
        return problem
