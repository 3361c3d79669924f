"""The web dashboard served at ``/``, its sign-in and sessions, and the offline API docs.

Plain HTML, CSS and one small ES module per view under ``static/``, shipped in the wheel; every
view reads the public HTTP API with the session cookie. Nothing is built at install time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from evana._settings import Settings

__all__ = ["install"]


def install(app: FastAPI, settings: Settings) -> None:
    """Add the dashboard, its session routes and (when enabled) ``/docs`` and ``/redoc``.

    >>> from starlette.routing import Match
    >>> from evana.server import create_app, Settings
    >>> app = create_app(Settings(database_url="sqlite://"))
    >>> def served(path):
    ...     scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    ...     return any(r.matches(scope)[0] is Match.FULL for r in app.router.routes)
    >>> all(served(p) for p in ("/", "/signin", "/dashboard/session", "/docs", "/redoc"))
    True
    """
    # Imported here: the API's auth module imports this package for the session cookie, and
    # these routes import the auth module.
    from ._pages import mount

    mount(app, docs=settings.docs_enabled)
