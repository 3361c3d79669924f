"""The HTTP API as the client speaks it: request bodies and headers in, typed answers or errors out.

A batch body is assembled from events already encoded to JSON (see ``_encode``), so each event
is serialized once, on the application thread, and the sender only joins bytes and gzips them.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import math
import time
from collections.abc import Mapping, Sequence
from typing import TypeVar

import pydantic
from pydantic import BaseModel

from evana._version import __version__
from evana.errors import APIError, error_for_status
from evana.schema import ErrorBody

from ._transport import Request, Response

__all__ = [
    "BATCH_OVERHEAD",
    "EVENTS_PATH",
    "api_error",
    "batch_body",
    "get_request",
    "ingest_request",
    "parse_model",
    "parse_retry_after",
    "post_request",
]

EVENTS_PATH = "/v1/events"
USER_AGENT = f"evana-python/{__version__}"
#: gzip level 1: JSON events already shrink 5-10x at it, and the sender's CPU is the host app's.
GZIP_LEVEL = 1

_PREFIX = b'{"events":['
_SENT_AT = b'],"sent_at":"'
_SUFFIX = b'"}'
#: Bytes of a batch body besides its events and the commas between them (sent_at at full length).
BATCH_OVERHEAD = len(_PREFIX + _SENT_AT + _SUFFIX) + len("2026-11-02T09:15:00.000000+00:00")

Model = TypeVar("Model", bound=BaseModel)


def _headers(api_key: str) -> dict[str, str]:
    return {"X-API-Key": api_key, "User-Agent": USER_AGENT, "Accept": "application/json"}


def batch_body(items: Sequence[bytes], sent_at: dt.datetime | None) -> bytes:
    """The JSON body of ``POST /v1/events`` from encoded events.

    >>> batch_body([b'{"event":"a","user_id":"u"}'], dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    b'{"events":[{"event":"a","user_id":"u"}],"sent_at":"2026-01-01T00:00:00+00:00"}'
    >>> batch_body([b'{"event":"a","user_id":"u"}'], None)
    b'{"events":[{"event":"a","user_id":"u"}]}'
    """
    if sent_at is None:
        return b"".join((_PREFIX, b",".join(items), b"]}"))
    return b"".join((_PREFIX, b",".join(items), _SENT_AT, sent_at.isoformat().encode(), _SUFFIX))


def ingest_request(
    items: Sequence[bytes], api_key: str, *, compress: bool = True, stamped: bool = True
) -> Request:
    """A ``POST /v1/events`` of encoded events, stamped with ``sent_at`` = now (unless not
    ``stamped``: then the server stores every timestamp as given).

    Built anew for every attempt: a retried batch carries the time of the retry, or the server's
    clock-skew correction could move its events by the time spent retrying.
    """
    body = batch_body(items, dt.datetime.now(dt.UTC) if stamped else None)
    headers = _headers(api_key)
    headers["Content-Type"] = "application/json"
    if compress:
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Request("POST", EVENTS_PATH, headers, content=body)


def get_request(path: str, params: Mapping[str, str], api_key: str) -> Request:
    """A ``GET`` of the read API."""
    return Request("GET", path, _headers(api_key), params=dict(params))


def post_request(path: str, body: bytes, api_key: str) -> Request:
    """A ``POST`` of the query API (a JSON body, answered with JSON, nothing written)."""
    headers = _headers(api_key)
    headers["Content-Type"] = "application/json"
    return Request("POST", path, headers, content=body)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), else None.

    >>> parse_retry_after({"retry-after": "3"})
    3.0
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def api_error(response: Response) -> APIError:
    """The :mod:`evana.errors` class of an error answer, with its code, detail and Retry-After."""
    error: str | None
    detail: str | None
    try:
        body = ErrorBody.model_validate_json(response.content)
        error, detail = body.error, body.detail
    except pydantic.ValidationError:
        # Not our API's error shape (a proxy, a load balancer): keep the start of its text.
        error, detail = None, response.content[:500].decode("utf-8", "replace") or None
    return error_for_status(
        response.status_code, error, detail, retry_after=parse_retry_after(response.headers)
    )


def parse_model(response: Response, model: type[Model]) -> Model:
    """Read a successful answer as ``model``; an answer of another shape is an ``APIError``.

    >>> from evana.schema import IngestResult
    >>> parse_model(Response(202, {}, b'{"accepted": 2, "rejected": []}'), IngestResult).accepted
    2
    """
    try:
        return model.model_validate_json(response.content)
    except pydantic.ValidationError as exc:
        raise APIError(
            f"the answer does not match {model.__name__} (is the URL an evana server?): {exc}",
            status_code=response.status_code,
            error="unexpected_answer",
        ) from None
