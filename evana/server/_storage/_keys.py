"""API key rows: created, looked up by id, listed, revoked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, update

from ._database import Database
from ._tables import api_keys

__all__ = ["KeyRecord", "KeyRepository"]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key: everything but the secret, which is kept only as a hash."""

    key_id: str
    name: str
    scope: str
    secret_hash: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked_at is None


#: Every request's key lookup, built once: SQLAlchemy then keys its compiled form without
#: walking the statement again on each call.
_BY_ID = select(api_keys).where(api_keys.c.key_id == bindparam("key_id"))


class KeyRepository:
    """SQL for API keys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, record: KeyRecord) -> None:
        """Store a new key."""
        with self.db.write() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=record.key_id,
                    name=record.name,
                    scope=record.scope,
                    secret_hash=record.secret_hash,
                    created_at=record.created_at,
                    revoked_at=record.revoked_at,
                )
            )

    def get(self, key_id: str) -> KeyRecord | None:
        """The key with this id, revoked or not."""
        with self.db.lookup() as conn:
            row = conn.execute(_BY_ID, {"key_id": key_id}).first()
        return KeyRecord(**row._mapping) if row else None

    def all(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        with self.db.read() as conn:
            by_id = self.db.dialect.by_code_point(api_keys.c.key_id)
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, by_id))
            return [KeyRecord(**row._mapping) for row in rows]

    def count(self) -> int:
        """How many keys exist, revoked ones included."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(api_keys)).scalar_one())

    def revoke(self, key_id: str, when: dt.datetime) -> bool:
        """Mark a key revoked; False when there is no such active key."""
        with self.db.write() as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=when)
            )
            return bool(result.rowcount)
