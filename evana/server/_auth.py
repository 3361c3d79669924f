"""Authentication, rate limit and scopes as FastAPI dependencies (security schemes in OpenAPI).

A request may instead carry the dashboard's session cookie (``_dashboard._session``): it stands
for the key that signed in, and an unsafe method needs the session's CSRF token as well. A key
sent in a header always wins over the cookie.

Order matters: the key is authenticated first (401), then charged a token of its rate limit
(429), then its scope is checked (403). A key that keeps asking for what its scope forbids is
throttled too, and nobody without a valid key can drain another key's bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from evana.errors import PermissionDeniedError, RateLimitedError

from ._dashboard._session import CSRF_HEADER, SESSION_COOKIE, check_csrf, verify
from ._keys import Scope, allows
from ._logging import quote
from ._state import AppState, get_state
from ._storage import KeyRecord
from ._threads import in_pool

log = logging.getLogger("evana.access")

__all__ = ["admit", "require"]

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An evana API key.")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def require(scope: Scope) -> Callable[..., Awaitable[KeyRecord]]:
    """A dependency that admits keys of ``scope`` (or admin): 401 without a valid key, 429 over
    the key's rate limit, 403 for another scope.

    >>> from fastapi import APIRouter
    >>> router = APIRouter(dependencies=[Depends(require("read"))])
    """

    async def dependency(
        request: Request,
        state: Annotated[AppState, Depends(get_state)],
        api_key: Annotated[str | None, Security(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> KeyRecord:
        key = api_key or (bearer.credentials if bearer else None)
        # The key's lookup reads the database: in the request pool, never on the event loop.
        return await in_pool(_authorize, state, key, scope, request)

    dependency.__name__ = f"require_{scope}"
    return dependency


def _authorize(state: AppState, key: str | None, scope: Scope, request: Request) -> KeyRecord:
    """The record of the key sent in a header, else of the dashboard's session cookie."""
    cookie = request.cookies.get(SESSION_COOKIE) if key is None else None
    session = verify(cookie, state.keys) if cookie else None
    if session is None:
        return admit(state, key, scope, request)
    _charge(state, session.record)
    check_csrf(session, request.method, request.headers.get(CSRF_HEADER))
    _check_scope(session.record, scope, request)
    return session.record


def admit(state: AppState, key: str | None, scope: Scope, request: Request) -> KeyRecord:
    """Authenticate ``key`` (401), charge its rate limit (429), check its scope (403).

    For routes whose key is not in a header: the PostHog and Segment formats carry it in the
    body too, so they call this once the body is read, in the request pool (``in_pool``): it
    reads the database.
    """
    record = state.keys.authenticate(key)
    _charge(state, record)
    _check_scope(record, scope, request)
    return record


def _charge(state: AppState, record: KeyRecord) -> None:
    if state.limiter is not None:
        try:
            state.limiter.check(record.key_id)
        except RateLimitedError:
            state.metrics.requests_rate_limited.inc()
            # A throttled sender only slows down (the SDK waits and retries): say so, once a
            # minute per key, so that a limit set too low is seen rather than guessed.
            if state.limiter.report_due(record.key_id):
                log.warning(
                    "msg=rate_limited key_id=%s name=%s rate=%g burst=%d",
                    record.key_id,
                    quote(record.name or "-"),
                    state.limiter.rate,
                    state.limiter.burst,
                )
            raise


def _check_scope(record: KeyRecord, scope: Scope, request: Request) -> None:
    if not allows(record.scope, scope):
        raise PermissionDeniedError(
            f"this key has scope {record.scope!r}; {request.method} {request.url.path}"
            f" needs scope {scope!r} (or 'admin')"
        )
