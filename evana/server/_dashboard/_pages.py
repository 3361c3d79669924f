"""The dashboard's routes: its pages, sign-in and sign-out, static files and the API docs.

The HTML pages are shells that hold no data: ``/`` answers only with a session (else it sends
the browser to ``/signin``), and every figure is fetched from the public API by the page.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.staticfiles import StaticFiles

from evana.errors import APIError, AuthenticationError, PermissionDeniedError
from evana.server._state import AppState, get_state

from ._headers import SecurityHeaders
from ._session import SESSION_COOKIE, SESSION_SECONDS, Session, issue, verify

__all__ = ["mount"]

HERE = Path(__file__).parent
STATIC = HERE / "static"
PAGES = HERE / "pages"
#: Where the static files are served, below a fingerprint of their contents (see ``assets``).
STATIC_ROOT = "/dashboard/static"

State = Annotated[AppState, Depends(get_state)]
router = APIRouter(include_in_schema=False)
docs_router = APIRouter(include_in_schema=False)


class UnsupportedMediaError(APIError):
    """The sign-in body is not JSON (a cross-site form cannot send JSON without a preflight)."""

    status_code = 415
    code = "unsupported_media_type"


class SignIn(BaseModel):
    """The sign-in form: an API key of scope read or admin."""

    key: str = Field(min_length=1, max_length=500)


@functools.cache
def assets() -> str:
    """The URL prefix of the static files: ``/dashboard/static/<fingerprint>``.

    The fingerprint changes whenever a file does, so browsers may cache every file for good
    (``immutable``): opening the dashboard costs no revalidation round trip per ES module,
    and an upgrade is still picked up at once.
    """
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(STATIC)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{STATIC_ROOT}/{digest.hexdigest()[:12]}"


@functools.cache
def _html(name: str) -> str:
    return (PAGES / name).read_text().replace(f"{STATIC_ROOT}/", f"{assets()}/")


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(_html(name), headers={"Cache-Control": "no-store"})


def _session(request: Request, state: AppState) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return verify(cookie, state.keys)
    except AuthenticationError:
        return None


def _describe(session: Session) -> dict[str, Any]:
    record = session.record
    return {
        "key_id": record.key_id,
        "name": record.name,
        "scope": record.scope,
        "csrf": session.csrf,
        "expires_at": session.expires_at.isoformat().replace("+00:00", "Z"),
    }


@router.get("/")
def index(request: Request, state: State) -> Response:
    """The dashboard (its views live in the URL's fragment), or the sign-in page."""
    if _session(request, state) is None:
        # The browser keeps the fragment across the redirect, so a shared link still opens
        # its view once signed in.
        return RedirectResponse("/signin", status_code=303, headers={"Cache-Control": "no-store"})
    return _page("index.html")


@router.get("/signin")
def signin_page() -> Response:
    """The sign-in form."""
    return _page("signin.html")


@router.post("/dashboard/session")
def sign_in(body: SignIn, request: Request, state: State) -> JSONResponse:
    """Exchange a read or admin key for a session cookie (HttpOnly, SameSite=Strict)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise UnsupportedMediaError('send the key as JSON: {"key": "evana_..."}')
    record = state.keys.authenticate(body.key)
    if record.scope not in ("read", "admin"):
        raise PermissionDeniedError(
            f"a key of scope {record.scope!r} cannot sign in: use a read or admin key"
        )
    cookie, session = issue(record)
    response = JSONResponse(_describe(session), headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/dashboard/session")
def current_session(request: Request, state: State) -> JSONResponse:
    """Who is signed in, the CSRF token for unsafe requests, and when the session ends."""
    session = _session(request, state)
    if session is None:
        raise AuthenticationError("not signed in")
    return JSONResponse(_describe(session), headers={"Cache-Control": "no-store"})


@router.delete("/dashboard/session", status_code=204)
def sign_out(request: Request) -> Response:
    """Forget the session cookie."""
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@docs_router.get("/docs")
def swagger_ui() -> Response:
    """Swagger UI, from the vendored files."""
    return _page("docs.html")


@docs_router.get("/redoc")
def redoc() -> Response:
    """Redoc, from the vendored files."""
    return _page("redoc.html")


def mount(app: FastAPI, *, docs: bool) -> None:
    """Add the routes, the static files and the security headers to ``app``."""
    # Added as the app's own routes (as FastAPI adds its docs pages), not as an included
    # router, so route listings (and the access matrix test) see each of them.
    for route in [*router.routes, *(docs_router.routes if docs else [])]:
        assert isinstance(route, APIRoute)
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=sorted(route.methods or ()),
            status_code=route.status_code,
            include_in_schema=False,
        )
    app.mount(assets(), StaticFiles(directory=STATIC), name="dashboard-static")
    app.add_middleware(SecurityHeaders)
