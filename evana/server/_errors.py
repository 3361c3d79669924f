"""One place that renders every error as ``{"error", "detail", "errors"}`` with its status.

Whatever raised it — evana's own errors, FastAPI's validation of parameters, Starlette's 404 and
405 — every error answer has the same shape (:class:`evana.schema.ErrorBody`): ``detail`` one
sentence, ``errors`` each problem on its own.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from evana.errors import APIError, StorageError, TransientStorageError
from evana.schema import ErrorBody

from ._redact import redact_user_path

__all__ = ["BAD_BODY", "ERROR_RESPONSES", "install_error_handlers"]

log = logging.getLogger("evana.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}

#: OpenAPI documentation of the error answers every route may give.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked API key"},
    403: {"model": ErrorBody, "description": "The key's scope does not allow this"},
    422: {"model": ErrorBody, "description": "Invalid request"},
    503: {"model": ErrorBody, "description": "Temporarily unavailable; retry after Retry-After"},
}


def _render(
    status: int, error: str, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody.of(error, detail).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=headers)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return _render(exc.status_code, exc.error, exc.detail, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = []
    for item in exc.errors():
        loc = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path", "body"))
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        detail.append(f"{loc}: {message}" if loc else message)
    return _render(422, "invalid_request", detail)


#: What a body route answers when its body cannot be read as text at all (FastAPI's own 400).
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be parsed"}
}

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: the router's own 405 names only the first
    route that matched the path (``POST /v1/keys`` hid ``GET``)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return _render(exc.status_code, code, exc.detail, headers)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    path = redact_user_path(request.url.path)  # a data-rights path names a user
    log.error("database error on %s %s: %s", request.method, path, exc)
    if isinstance(exc, TransientStorageError):
        return _render(503, "unavailable", "the database is unavailable", {"Retry-After": "2"})
    return _render(500, "storage_error", "the database refused the request")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    path = redact_user_path(request.url.path)
    log.exception("unexpected error on %s %s", request.method, path, exc_info=exc)
    return _render(500, "internal_error", "an unexpected error happened; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(Exception, _unexpected)
