"""Undoing what SDKs do to a body before sending it: gzip, base64, lz64 and form encoding.

Every step is bounded by the route's limit: gzip through the server's one bounded inflater
(``_body.read_body``), lz64 by a cap on its output, base64 by its input (it only shrinks).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pydantic_core

from evana.errors import InvalidRequestError
from evana.server._body import read_body

from ._lzstring import LzStringError, decompress_from_base64

__all__ = [
    "GZIP_MAGIC",
    "bad_body",
    "form_fields",
    "gunzip",
    "json_body",
    "looks_like_json",
    "unbase64",
    "unlz64",
]

GZIP_MAGIC = b"\x1f\x8b"


def bad_body(reason: str) -> InvalidRequestError:
    """A 400: nothing in the body can be read."""
    return InvalidRequestError(reason, status_code=400, error="invalid_body")


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def gunzip(body: bytes, limit: int, take: Callable[[int], None] | None = None) -> bytes:
    """Inflate a gzip body to at most ``limit`` bytes (413 past it, 400 when it is not gzip);
    ``take`` charges what it inflates to the server's body budget, as ``read_body`` does."""
    try:
        if take is None:
            return await read_body(_one(body), encoding="gzip", limit=limit, declared=None)
        return await read_body(_one(body), encoding="gzip", limit=limit, declared=None, take=take)
    except InvalidRequestError as exc:
        raise bad_body(str(exc.detail)) from None


def unbase64(text: str | bytes) -> bytes:
    """Base64 as browsers send it: padding optional, ``+`` possibly turned into a space."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    raw = raw.strip().replace(b" ", b"+")
    raw += b"=" * (-len(raw) % 4)
    try:
        if b"-" in raw or b"_" in raw:
            return base64.urlsafe_b64decode(raw)
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise bad_body("the body is neither JSON nor valid base64") from None


def unlz64(text: str | bytes, limit: int) -> bytes:
    """lz-string ``compressToBase64`` text, inflated to at most ``limit`` characters."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    try:
        return decompress_from_base64(text.strip().replace(" ", "+"), limit=limit).encode()
    except LzStringError as exc:
        raise bad_body(f"the body is not valid lz64: {exc}") from None


def form_fields(body: bytes) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` body (the first of each name)."""
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise bad_body("the form body is not UTF-8") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


_decode_json = msgspec.json.Decoder().decode


def json_body(body: bytes) -> Any:
    """Parse JSON, or answer 400 saying why not."""
    if not body.strip():
        raise bad_body("the body is empty")
    try:
        return _decode_json(body)  # compiled and fast; refuses NaN, lone surrogates and such
    except msgspec.DecodeError:
        pass
    try:
        return pydantic_core.from_json(body)  # what the SDKs may send that msgspec refuses
    except ValueError as exc:
        raise bad_body(f"the body is not valid JSON: {exc}") from None


def looks_like_json(body: bytes) -> bool:
    """True when the body starts (after blanks) like a JSON object or array."""
    return body.lstrip()[:1] in (b"{", b"[")
