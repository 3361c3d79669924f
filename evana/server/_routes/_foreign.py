"""The frame every foreign wire format's route shares: key, body, decode, durable publish.

A key in a header is checked before the body is read; one in the body, once it is parsed. The
body's bytes count against the server-wide budget until the request is answered, and what the
format's ``decode`` does runs under that budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from fastapi import Request

from evana.errors import AuthenticationError
from evana.server._auth import admit
from evana.server._body import read_body
from evana.server._state import AppState
from evana.server._threads import in_pool
from evana.server._wire import Decoded, accept, key_from_headers

__all__ = ["Decode", "receive"]

#: ``decode(body, take, received_at)``: the request's messages and the key its body names.
Decode = Callable[[bytes, Callable[[int], None], dt.datetime], Awaitable[Decoded]]


async def receive(
    request: Request,
    state: AppState,
    *,
    source: str,
    limit: int,
    key_hint: str,
    decode: Decode,
) -> None:
    """Authenticate, read and decode the request, and make its valid messages durable.

    ``key_hint`` names where the SDK puts its key, for the 401 of a request without one. A GET
    carries its body in the query string (PostHog's image-pixel fallback).
    """
    received_at = dt.datetime.now(dt.UTC)
    header_key = key_from_headers(request.headers)
    if header_key is not None:
        await in_pool(admit, state, header_key, "ingest", request)
    with state.ingest.bodies.hold() as take:
        if request.method == "GET":
            body = request.url.query.encode()
        else:
            body = await read_body(
                request.stream(),
                encoding=request.headers.get("content-encoding"),
                limit=limit,
                declared=request.headers.get("content-length"),
                take=take,
            )
        decoded = await decode(body, take, received_at)
        if header_key is None:
            if decoded.key is None:
                raise AuthenticationError(
                    f"missing API key: send an evana ingest key as the SDK's {key_hint}"
                    " or as Authorization: Bearer"
                )
            await in_pool(admit, state, decoded.key, "ingest", request)
        await accept(state.ingest, decoded, source=source, received_at=received_at)
