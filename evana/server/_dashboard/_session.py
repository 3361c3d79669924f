"""Dashboard sessions: an API key exchanged for a signed, HttpOnly, SameSite=Strict cookie.

A session is signed, not stored: the cookie holds the key's id, an expiry and a random nonce,
signed with HMAC-SHA256 under a key derived from the API key's stored hash. So every API
replica that shares the database verifies every other replica's sessions with nothing new to
configure (embedded and production alike), revoking the API key ends its sessions at once, and
the key itself never reaches the page (the cookie is HttpOnly and holds no part of it).

The CSRF token is derived from the same signing key and the session's nonce: the page reads it
from ``GET /dashboard/session`` and sends it as ``X-CSRF-Token`` on every unsafe request. A
cookie alone (what a cross-site form could make a browser send, were SameSite ever bypassed)
therefore never changes anything.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from evana.errors import AuthenticationError, PermissionDeniedError
from evana.server._keys import KeyService
from evana.server._storage import KeyRecord

__all__ = [
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Session",
    "check_csrf",
    "issue",
    "verify",
]

SESSION_COOKIE = "evana_session"
CSRF_HEADER = "X-CSRF-Token"
#: A working day: long enough not to interrupt, short enough that a forgotten browser expires.
SESSION_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CONTEXT = b"evana dashboard session v1"


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: the API key it stands for, its CSRF token and when it ends."""

    record: KeyRecord
    csrf: str
    expires_at: dt.datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signing_key(record: KeyRecord) -> bytes:
    return hmac.new(record.secret_hash.encode(), _CONTEXT, hashlib.sha256).digest()


def _sign(record: KeyRecord, payload: str) -> str:
    return _b64(hmac.new(_signing_key(record), payload.encode(), hashlib.sha256).digest())


def _csrf(record: KeyRecord, nonce: str) -> str:
    return _sign(record, f"csrf.{nonce}")


def issue(record: KeyRecord, now: dt.datetime | None = None) -> tuple[str, Session]:
    """A new session for ``record``: the cookie's value and the session it stands for.

    >>> from evana.server._storage import Database, create_schema
    >>> db = Database("sqlite://"); create_schema(db)
    >>> keys = KeyService(db)
    >>> cookie, session = issue(keys.create("read").record)
    >>> verify(cookie, keys).csrf == session.csrf
    True
    """
    now = now or dt.datetime.now(dt.UTC)
    expires = int(now.timestamp()) + SESSION_SECONDS
    nonce = secrets.token_urlsafe(18)
    payload = f"{record.key_id}.{expires}.{nonce}"
    session = Session(record, _csrf(record, nonce), dt.datetime.fromtimestamp(expires, dt.UTC))
    return f"{payload}.{_sign(record, payload)}", session


def verify(cookie: str, keys: KeyService, now: dt.datetime | None = None) -> Session:
    """The session a cookie stands for; AuthenticationError when it is forged, expired, or its
    key was revoked (or is an ingest key, which can never sign in)."""
    parts = cookie.split(".")
    if len(parts) != 4 or not parts[1].isdigit():
        raise AuthenticationError("invalid session: sign in again")
    key_id, expires, nonce, signature = parts
    record = keys.repo.get(key_id)
    if record is None or not hmac.compare_digest(
        _sign(record, f"{key_id}.{expires}.{nonce}"), signature
    ):
        raise AuthenticationError("invalid session: sign in again")
    if int(expires) <= (now or dt.datetime.now(dt.UTC)).timestamp():
        raise AuthenticationError("the session expired: sign in again")
    if not record.active:
        raise AuthenticationError("this session's API key was revoked")
    if record.scope not in ("read", "admin"):
        raise AuthenticationError("invalid session: sign in again")
    return Session(record, _csrf(record, nonce), dt.datetime.fromtimestamp(int(expires), dt.UTC))


def check_csrf(session: Session, method: str, token: str | None) -> None:
    """403 unless a request authenticated by the cookie is safe or carries the session's token."""
    if method in SAFE_METHODS:
        return
    if not token or not hmac.compare_digest(token, session.csrf):
        raise PermissionDeniedError(
            f"a request signed in by the dashboard's cookie needs the {CSRF_HEADER} header"
        )
