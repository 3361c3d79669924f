"""Dense integer ids for users: the members of every roaring bitmap.

A user's uid never changes once its row is committed (rows are never updated or reused, and a
user whose data is erased keeps the row), so writers cache the mapping in memory and only ask
the database about users they have not seen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from ._tables import users

if TYPE_CHECKING:
    from ._database import Database
    from ._dialect import Dialect

__all__ = ["UserIds", "user_ids"]

# Bound parameters per IN list (SQLite allows 32766 per statement).
_CHUNK = 5000


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def user_ids(conn: Connection, dialect: Dialect, names: Iterable[str]) -> dict[str, int]:
    """The uid of each user name, allocating uids for new users (in the caller's transaction).

    Existing users are looked up first, so only new ones consume ids: ids stay dense. New users
    are inserted in sorted order, so two writers adding the same users lock them in one order.
    """
    wanted = sorted(set(names))
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        found.update(_lookup(conn, chunk))
    missing = [name for name in wanted if name not in found]
    if missing:
        stmt = dialect.insert(users).on_conflict_do_nothing()
        for chunk in _chunks(missing):
            conn.execute(stmt, [{"user_id": name} for name in chunk])
            found.update(_lookup(conn, chunk))
    return found


def _lookup(conn: Connection, names: Sequence[str]) -> dict[str, int]:
    stmt = select(users.c.user_id, users.c.uid).where(users.c.user_id.in_(names))
    return dict(conn.execute(stmt).all())


class UserIds:
    """uids of users, cached in memory after they are committed.

    >>> from evana.server._storage import Database, create_schema
    >>> db = Database("sqlite://"); create_schema(db)
    >>> UserIds(db).resolve(["ann", "bob", "ann"])
    {'ann': 1, 'bob': 2}
    """

    def __init__(self, db: Database, *, max_entries: int = 2_000_000) -> None:
        self.db = db
        self.max_entries = max_entries
        self._known: dict[str, int] = {}
        self._lock = threading.Lock()

    def resolve(self, names: Iterable[str]) -> dict[str, int]:
        """The uid of every name; unknown users are looked up or created in their own
        transaction, committed before their uids are cached or used."""
        wanted = set(names)
        with self._lock:
            found = {name: uid for name in wanted if (uid := self._known.get(name)) is not None}
        missing = wanted.difference(found)
        if missing:
            with self.db.write() as conn:
                fresh = user_ids(conn, self.db.dialect, missing)
            found.update(fresh)
            with self._lock:
                if len(self._known) + len(fresh) > self.max_entries:
                    self._known.clear()  # crude but bounded; refills from the database
                self._known.update(fresh)
        return found
