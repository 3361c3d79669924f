"""Security headers on the dashboard's and the docs' answers: a strict Content-Security-Policy.

The dashboard runs no inline script or style at all, so its policy allows only files from the
server itself. Swagger UI and Redoc set inline styles at run time (styled components), so the
docs pages allow inline *styles* — never inline scripts — and nothing else.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DASHBOARD_CSP", "DOCS_CSP", "SecurityHeaders"]

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; font-src 'self' data:;"
    " worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_DOCS = ("/docs", "/redoc")
_DASHBOARD = ("/", "/signin")


def _policy(path: str) -> str | None:
    if path in _DOCS or path.startswith("/docs/"):
        return DOCS_CSP
    if path in _DASHBOARD or path.startswith("/dashboard/"):
        return DASHBOARD_CSP
    return None


class SecurityHeaders:
    """ASGI middleware adding the policy (and no-sniff, no-framing, no referrer leaks)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = _policy(scope.get("path", "")) if scope["type"] == "http" else None
        static = policy is not None and scope["path"].startswith("/dashboard/static/")
        if policy is None:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                if static and message.get("status") == 200:
                    # Their URL holds a fingerprint of the files (see _pages.assets).
                    headers["Cache-Control"] = "public, max-age=31536000, immutable"
            await send(message)

        await self.app(scope, receive, send_with_headers)
