"""Reading a request body under a size limit, gzip included, without inflating past the limit."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

from evana.errors import APIError, InvalidRequestError, PayloadTooLargeError

__all__ = ["read_body"]

_JSON_TYPES = ("application/json", "text/plain")


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the body is over EVANA_MAX_BODY_BYTES ({limit} bytes, decompressed)"
    )


def check_content_type(content_type: str | None) -> None:
    """Accept JSON (and text/plain, as browsers' sendBeacon sends); refuse the rest clearly."""
    if not content_type:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _JSON_TYPES or media.endswith("+json"):
        return
    raise APIError(
        f"unsupported Content-Type {media!r}: send application/json"
        " (with curl: -H 'Content-Type: application/json')",
        status_code=415,
        error="unsupported_media_type",
    )


def _free(_size: int) -> None:
    """Charge nothing (no budget)."""


async def read_body(
    chunks: AsyncIterator[bytes],
    *,
    encoding: str | None,
    limit: int,
    declared: str | None,
    take: Callable[[int], None] = _free,
) -> bytes:
    """Collect a body of at most ``limit`` bytes after decompression.

    ``gzip`` bodies are inflated incrementally with a cap on the output, so a small compressed
    body that would expand to gigabytes is refused after inflating ``limit`` bytes, not before.
    ``take(n)`` is called as each ``n`` (decompressed) bytes are buffered; it may raise to
    refuse the body (see ``BodyBudget``).
    """
    encoding = (encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise APIError(
            f"unsupported Content-Encoding {encoding!r}: send gzip or nothing",
            status_code=415,
            error="unsupported_media_type",
        )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    if encoding == "identity":
        return await _plain(chunks, limit, take)
    return await _gunzip(chunks, limit, take)


async def _plain(chunks: AsyncIterator[bytes], limit: int, take: Callable[[int], None]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > limit:
            raise _too_large(limit)
        take(len(chunk))
        body += chunk
    return bytes(body)


async def _gunzip(chunks: AsyncIterator[bytes], limit: int, take: Callable[[int], None]) -> bytes:
    out = bytearray()
    received = 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            pending = chunk
            while pending:
                inflated = inflater.decompress(pending, limit + 1 - len(out))
                if len(out) + len(inflated) > limit:
                    raise _too_large(limit)
                take(len(inflated))
                out += inflated
                if inflater.unconsumed_tail:
                    pending = inflater.unconsumed_tail
                elif inflater.eof and inflater.unused_data:
                    # Concatenated gzip members are one valid gzip stream (RFC 1952 §2.2).
                    pending = inflater.unused_data
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    pending = b""
        if not inflater.eof:
            raise InvalidRequestError("the gzip body is truncated")
    except zlib.error as exc:
        raise InvalidRequestError(f"the body is not valid gzip: {exc}") from None
    return bytes(out)
