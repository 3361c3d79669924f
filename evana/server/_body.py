"""Reading a request body under a size limit, gzip included, without inflating past the limit."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable

from evana.errors import APIError, InvalidRequestError, PayloadTooLargeError

__all__ = ["read_body"]

_JSON_TYPES = ("application/json", "text/plain")

#: How long a whole body may take to arrive. A client that sends a few bytes and stalls would
#: otherwise hold its connection (and what it sent) for ever; 10 MiB in 60 s is 170 KB/s, and
#: the SDKs send far smaller batches. Answered 408, which the SDKs retry.
BODY_DEADLINE_SECONDS = 60.0


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
    deadline: float = BODY_DEADLINE_SECONDS,
) -> bytes:
    """Collect a body of at most ``limit`` bytes after decompression.

    ``gzip`` bodies are inflated incrementally with a cap on the output, so a small compressed
    body that would expand to gigabytes is refused after inflating ``limit`` bytes, not before.
    ``take(n)`` is called as each ``n`` (decompressed) bytes are buffered; it may raise to
    refuse the body (see ``BodyBudget``). A body still arriving after ``deadline`` seconds is
    refused with 408.
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
    try:
        async with asyncio.timeout(deadline):
            if encoding == "identity":
                return await _plain(chunks, limit, take)
            return await _gunzip(chunks, limit, take)
    except TimeoutError:
        raise APIError(
            f"the body did not arrive within {deadline:g} s: send it faster, or smaller",
            status_code=408,
            error="request_timeout",
        ) from None


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
