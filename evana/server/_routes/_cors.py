"""CORS for the drop-in routes: any origin may send events there, as to PostHog or Segment.

Browser SDKs post from the customer's own site, whatever its origin, with a key that is public
by design (an ``ingest`` key). These routes therefore answer every origin's preflight and tag
their answers, whatever ``EVANA_CORS_ORIGINS`` says for the rest of the API. The origin is
echoed (not ``*``) because posthog-js's XHR fallback sends credentials, which ``*`` forbids;
evana reads no cookie, so a credentialed request gains nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AnyOriginCors"]

_METHODS = "GET, POST, OPTIONS"
_DEFAULT_HEADERS = "Content-Type, Content-Encoding, Authorization, X-API-Key, X-Write-Key"


class AnyOriginCors:
    """ASGI middleware: CORS for any origin on ``paths`` (exactly, with or without a trailing
    slash) and under ``prefixes``."""

    def __init__(self, app: ASGIApp, paths: Iterable[str], prefixes: Iterable[str] = ()) -> None:
        self.app = app
        self.paths = frozenset(p.rstrip("/") for p in paths)
        self.prefixes = tuple(prefixes)

    def _covers(self, path: str) -> bool:
        return path.rstrip("/") in self.paths or path.startswith(self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            allowed = headers.get("access-control-request-headers") or _DEFAULT_HEADERS
            response = Response(status_code=204, headers=_tags(origin))
            response.headers["Access-Control-Allow-Methods"] = _METHODS
            response.headers["Access-Control-Allow-Headers"] = allowed
            response.headers["Access-Control-Max-Age"] = "86400"
            await response(scope, receive, send)
            return

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in _tags(origin).items():
                    out[name] = value
            await send(message)

        await self.app(scope, receive, tagged)


def _tags(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "Retry-After",
        "Vary": "Origin",
    }
