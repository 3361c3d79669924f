"""Segment's HTTP tracking API routes (RudderStack's SDKs use them too), for its SDKs unchanged.

Each reads Segment's format with :mod:`evana.server._wire.segment` and publishes through the
same durable path as ``POST /v1/events``; ``200 {"success": true}`` means durable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state
from evana.server._wire import (
    GZIP_MAGIC,
    Decoded,
    gunzip,
    json_body,
    segment,
)

from ._foreign import receive

__all__ = ["CORS_PATHS", "SHORT", "router"]

router = APIRouter(tags=["segment"])

#: Segment's one-letter route of each type, as analytics.js uses them (``/v1/t`` for track).
SHORT = {
    None: "b",
    "track": "t",
    "page": "p",
    "screen": "s",
    "identify": "i",
    "alias": "a",
    "group": "g",
}
#: Paths answering any origin's CORS preflight (see ``_cors``).
CORS_PATHS = tuple(f"/v1/{kind}" for kind in ("batch", *segment.TYPES, *SHORT.values()))

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": 'Durable: `{"success": true}`'},
    400: {"description": "Nothing in the body can be read"},
    **ERROR_RESPONSES,
    413: {"description": "Over the size limit (500 KB, or EVANA_MAX_BODY_BYTES if larger)"},
}


def _parse(body: bytes, kind: str | None) -> Decoded:
    return segment.read(json_body(body), kind=kind)


async def _receive(request: Request, state: AppState, kind: str | None) -> JSONResponse:
    limit = max(state.settings.max_body_bytes, segment.MIN_BODY_LIMIT)

    async def decode(
        body: bytes, take: Callable[[int], None], _received_at: dt.datetime
    ) -> Decoded:
        if body.startswith(GZIP_MAGIC):
            body = await gunzip(body, limit, take)
        # Parsing and mapping in the ingest service's validation threads, as /v1/events does.
        return await state.ingest.gate.run(_parse, body, kind)

    await receive(
        request,
        state,
        source="segment",
        limit=limit,
        key_hint="write key (writeKey, Basic auth, X-Write-Key)",
        decode=decode,
    )
    return JSONResponse({"success": True})


def _route(kind: str | None) -> Any:
    async def receive(
        request: Request, state: Annotated[AppState, Depends(get_state)]
    ) -> JSONResponse:
        return await _receive(request, state, kind)

    receive.__name__ = f"segment_{kind or 'batch'}"
    receive.__doc__ = (
        "Receive a batch of Segment messages." if kind is None else f"Receive a Segment {kind}."
    )
    return receive


for _kind in (None, *segment.TYPES):
    _receive_kind = _route(_kind)
    router.add_api_route(
        f"/v1/{_kind or 'batch'}",
        _receive_kind,
        methods=["POST"],
        summary=f"Segment {_kind or 'batch'}",
        responses=_RESPONSES,
        response_class=JSONResponse,
    )
    # analytics.js posts to the one-letter forms of Segment's API (/v1/t, /v1/p, /v1/b, ...).
    router.add_api_route(
        f"/v1/{SHORT[_kind]}", _receive_kind, methods=["POST"], include_in_schema=False
    )
