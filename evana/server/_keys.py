"""API keys: made, checked in constant time, listed and revoked. Only hashes are stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal, get_args

from evana.errors import AuthenticationError, ConfigurationError, NotFoundError
from evana.schema import KeyInfo

from ._storage import Database, KeyRecord, KeyRepository

__all__ = ["SCOPES", "CreatedKey", "KeyService", "Scope", "allows", "key_info"]

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

_PREFIX = "evana_"
_ID_LENGTH = 12  # hex characters


def allows(granted: str, needed: Scope) -> bool:
    """Whether a key of scope ``granted`` may do what needs ``needed`` (admin may do all).

    >>> allows("admin", "read"), allows("ingest", "read")
    (True, False)
    """
    return granted == needed or granted == "admin"


def key_info(record: KeyRecord) -> KeyInfo:
    """The wire form of a stored key, as listed (a key made without a name has ``name`` None)."""
    return KeyInfo.model_validate(
        {
            "key_id": record.key_id,
            "name": record.name or None,
            "scope": record.scope,
            "created_at": record.created_at,
            "revoked_at": record.revoked_at,
        }
    )


def _hash(secret: str) -> str:
    # Keys carry 240 random bits, so one SHA-256 round is enough: no dictionary to attack.
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(key: str) -> tuple[str, str] | None:
    if not key.startswith(_PREFIX):
        return None
    rest = key[len(_PREFIX) :]
    key_id, sep, secret = (
        rest[:_ID_LENGTH],
        rest[_ID_LENGTH : _ID_LENGTH + 1],
        rest[_ID_LENGTH + 1 :],
    )
    if sep != "_" or not secret or len(key_id) != _ID_LENGTH:
        return None
    return key_id, secret


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: the only time its full text is known."""

    key: str
    record: KeyRecord


class KeyService:
    """Everything about API keys, over a :class:`KeyRepository`."""

    def __init__(self, db: Database) -> None:
        self.repo = KeyRepository(db)

    def create(self, scope: str, name: str = "") -> CreatedKey:
        """Make a key of ``scope`` (ingest, read or admin); its text is returned once.

        >>> from evana.server._storage import Database, create_schema
        >>> db = Database("sqlite://"); create_schema(db)
        >>> created = KeyService(db).create("read", "dashboards")
        >>> created.key.startswith("evana_"), created.record.scope
        (True, 'read')
        """
        if scope not in SCOPES:
            raise ConfigurationError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
        key_id, secret = secrets.token_hex(_ID_LENGTH // 2), secrets.token_urlsafe(30)
        record = KeyRecord(
            key_id=key_id,
            name=name,
            scope=scope,
            secret_hash=_hash(secret),
            created_at=dt.datetime.now(dt.UTC),
            revoked_at=None,
        )
        self.repo.add(record)
        return CreatedKey(f"{_PREFIX}{key_id}_{secret}", record)

    def authenticate(self, key: str | None) -> KeyRecord:
        """The active key record for ``key``, or AuthenticationError (missing, unknown, revoked)."""
        if not key:
            raise AuthenticationError(
                "missing API key: send it as X-API-Key or Authorization: Bearer"
            )
        parts = _split(key.strip())
        record = self.repo.get(parts[0]) if parts else None
        # Compare even when there is no record, so timing does not tell which part was wrong.
        expected = record.secret_hash if record else _hash("")
        matches = hmac.compare_digest(expected, _hash(parts[1] if parts else key))
        if record is None or not matches:
            raise AuthenticationError("unknown API key")
        if not record.active:
            raise AuthenticationError("this API key was revoked")
        return record

    def list(self) -> list[KeyRecord]:
        """Every key, oldest first (revoked ones too)."""
        return self.repo.all()

    def revoke(self, key_or_id: str) -> KeyRecord:
        """Revoke a key given by its id or its full text; it stops working at once.

        Every request looks its key up in the database (:meth:`authenticate`; there is no
        cache), so the next request with a revoked key is refused, by every API process that
        shares the database. Revoking a revoked key changes nothing and is not an error (a
        retried revocation is harmless); an unknown id is :class:`NotFoundError`.

        >>> from evana.server._storage import Database, create_schema
        >>> db = Database("sqlite://"); create_schema(db)
        >>> keys = KeyService(db); created = keys.create("ingest")
        >>> keys.revoke(created.record.key_id).active
        False
        """
        parts = _split(key_or_id)
        key_id = parts[0] if parts else key_or_id
        self.repo.revoke(key_id, dt.datetime.now(dt.UTC))
        record = self.repo.get(key_id)
        if record is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return record

    def bootstrap(self) -> CreatedKey | None:
        """On a database without any key, make the first admin key (else None)."""
        if self.repo.count():
            return None
        return self.create("admin", "bootstrap admin key")
