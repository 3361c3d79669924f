"""``/v1/users/{user_id}``: data rights — erase a user, export a user's events (admin scope)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote, unquote, unquote_to_bytes

from fastapi import APIRouter, Depends, Path
from fastapi.responses import StreamingResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

from evana.schema import Name, UserErasure
from evana.server._auth import require
from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state
from evana.server._storage import KeyRecord, erase_user, user_events

__all__ = ["NDJSON", "RawUserIdPaths", "router"]

log = logging.getLogger("evana.api")

#: The media type of JSON lines (one JSON object per line).
NDJSON = "application/x-ndjson"


#: Paths whose next segment is a distinct id (see :class:`RawUserIdPaths`).
PREFIXES = ("/v1/users/", "/v1/persons/")


class RawUserIdPaths:
    """ASGI middleware: route ``/v1/users/…`` and ``/v1/persons/…`` by the path as sent, so an
    id may hold "/".

    ASGI servers decode ``%2F`` before routing, which would make ``DELETE /v1/users/a%2Fb`` and
    ``DELETE /v1/users/a/b`` the same request. This rebuilds the routing path of these URLs
    from ``raw_path``: each segment as sent, percent-encoded again in one canonical way, so the
    id is always exactly one segment; the ``user_id`` convertor decodes it for the route. Any
    other path passes untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw: bytes = scope.get("raw_path") or b""
            root = scope.get("root_path", "").encode()
            raw = raw[len(root) :] if root and raw.startswith(root) else raw
            for prefix in PREFIXES:
                if raw.startswith(prefix.encode()):
                    segments = raw[len(prefix) :].split(b"/")
                    path = prefix + "/".join(quote(unquote_to_bytes(s), safe="") for s in segments)
                    scope = {**scope, "path": scope.get("root_path", "") + path}
                    break
        await self.app(scope, receive, send)


class _UserIdConvertor(Convertor[str]):
    """One canonical percent-encoded segment (see :class:`RawUserIdPaths`), decoded."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        # Bytes that are not UTF-8 become lone surrogates, which the id's validation refuses
        # (422) rather than letting them match some other user's id.
        return unquote(value, errors="surrogateescape")

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


# Routes compile their path when they are declared (just below): register the convertor first.
register_url_convertor("user_id", _UserIdConvertor())

router = APIRouter(prefix="/v1/users", tags=["users"], responses=ERROR_RESPONSES)

Admin = Annotated[KeyRecord, Depends(require("admin"))]
State = Annotated[AppState, Depends(get_state)]
# The rules of an event's user_id (1-200 characters, no NUL, valid UTF-8): any id an event
# may carry can be exported and erased, and nothing else reaches the database.
UserId = Annotated[
    Name,
    Path(
        description="The user's id, as sent in events, as one URL-encoded path segment"
        ' ("/" as %2F; "." as %2E)'
    ),
]


_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The user's events, oldest first, one JSON object per line"
        " (`event_id`, `event`, `user_id`, `timestamp`, `properties`, `received_at`);"
        " empty for an unknown user.",
        "content": {NDJSON: {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{user_id:user_id}/events",
    summary="Export a user's events",
    response_class=StreamingResponse,
    responses=_EXPORT,
    dependencies=[Depends(require("admin"))],
)
def export_user(user_id: UserId, state: State) -> StreamingResponse:
    """Every stored event of the user as JSON lines, streamed page by page (never all in memory)."""
    events = user_events(state.db, user_id)
    # The first page is read before answering: a database that fails now gets its 503, not a
    # 200 cut short. (A failure on a later page can only cut the stream.)
    first = next(events, None)
    return StreamingResponse(_lines(first, events), media_type=NDJSON)


@router.delete("/{user_id:user_id}", response_model=UserErasure, summary="Erase a user")
def delete_user(user_id: UserId, state: State, key: Admin) -> UserErasure:
    """Delete every stored event of the user and take the user out of every report, at once.

    Afterwards every report equals one computed as if the user had never sent anything. An
    unknown user is not an error (`events_deleted` is 0), so a retried erasure is harmless.
    In production mode, the user's events still queued in NATS when this runs are written
    afterwards: erase again once the queue has drained (see docs/security.md).
    """
    erasure = erase_user(state.db, user_id)
    # Who erased and how much, never whom: the log must not keep the id it was asked to forget.
    log.info(
        "msg=user_erased key_id=%s events=%d rollup_keys=%d",
        key.key_id,
        erasure.events,
        erasure.rollup_keys,
    )
    return UserErasure(user_id=user_id, events_deleted=erasure.events)


def _lines(first: dict[str, Any] | None, rest: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    if first is None:
        return
    for event in itertools.chain([first], rest):
        yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
