"""Bounding what one request may cost: count before validating, validate off the event loop.

A body under ``EVANA_MAX_BODY_BYTES`` can still be expensive: 3 KB of gzip inflates to a
million empty events (``{},`` repeated), and validating each of them builds millions of Python
objects — 12-22 s of CPU and 1.2 GB held on the event loop, while ``/healthz`` waited. Three
guards keep a request's cost proportional to what the server agreed to do:

- :func:`too_many_events` counts the items of the ``events`` array one at a time with the C JSON
  scanner and stops at ``EVANA_MAX_BATCH_EVENTS`` + 1, so a batch over the limit is refused
  before any of it is validated (a million empty events: 413 in milliseconds, not seconds).
- :class:`ValidationGate` runs the count and the validation in a worker thread, a few at a
  time, so the event loop keeps answering (health checks, reports) and the memory that
  validations hold at once is bounded by the number of slots.
- :class:`BodyBudget` caps the bytes of request bodies buffered at once across all requests;
  past it a request is answered 503 with ``Retry-After`` instead of growing the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

from evana.errors import ServiceUnavailableError

__all__ = ["BodyBudget", "ValidationGate", "too_many_events"]

T = TypeVar("T")

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def too_many_events(body: bytes, limit: int) -> bool:
    """Whether the body's ``events`` array holds more than ``limit`` items, found cheaply.

    The items are counted one at a time, each decoded on its own and dropped, and the count
    stops at ``limit + 1``: the memory held is one item's, and a body over the limit costs
    ``limit + 1`` items however many follow. A body that is not a JSON object with an
    ``events`` array is not "too many": validation then says what is wrong with it.

    >>> too_many_events(b'{"sent_at": null, "events": [{}, {"a": [1, 2]}, {}]}', limit=2)
    True
    >>> too_many_events(b'{"events": [' + b",".join([b"{}"] * 1_000_000) + b"]}", limit=500)
    True
    >>> too_many_events(b'{"events": [{}, {}]}', limit=2), too_many_events(b"not json", limit=0)
    (False, False)
    """
    if body.count(b",") < limit:
        # Items are separated by commas: with fewer than ``limit`` commas in the whole body
        # there cannot be more than ``limit`` items. A C-speed scan, so the usual SDK batch of
        # a hundred events is not decoded twice.
        return False
    try:
        return _count(body.decode("utf-8"), limit) > limit
    except (ValueError, IndexError, RecursionError):  # not JSON, or too deep: validation says
        return False


def _skip(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _count(text: str, limit: int) -> int:
    pos = _skip(text, 0)
    if text[pos] != "{":
        return 0
    pos = _skip(text, pos + 1)
    biggest = 0
    while text[pos] == '"':
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] != ":":
            return biggest
        pos = _skip(text, pos + 1)
        if key == "events" and text[pos] == "[":
            # A repeated key counts too: the largest array decides.
            items, pos = _items(text, pos, limit)
            if items > limit:
                return items
            biggest = max(biggest, items)
        else:
            _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] != ",":
            break
        pos = _skip(text, pos + 1)
    return biggest


def _items(text: str, pos: int, limit: int) -> tuple[int, int]:
    pos = _skip(text, pos + 1)
    if text[pos] == "]":
        return 0, pos + 1
    count = 0
    while True:
        _, pos = _DECODER.raw_decode(text, pos)
        count += 1
        if count > limit:
            return count, pos
        pos = _skip(text, pos)
        if text[pos] == "]":
            return count, pos + 1
        if text[pos] != ",":
            raise ValueError("not a JSON array")
        pos = _skip(text, pos + 1)


class ValidationGate:
    """Runs CPU-heavy request work in worker threads, at most ``slots`` at a time.

    Requests past the slots wait their turn (their bodies are already within the
    :class:`BodyBudget`), so CPU and the memory of validation in progress stay bounded
    whatever the number of concurrent requests.
    """

    def __init__(self, slots: int = 2) -> None:
        self._slots = asyncio.Semaphore(slots)

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` in a thread, once a slot is free."""
        async with self._slots:
            return await asyncio.to_thread(work, *args)


class BodyBudget:
    """The bytes of request bodies buffered at once, across every request, under a cap.

    A body is charged as its (decompressed) bytes arrive, so a client that sends slowly holds
    only what it sent; past the cap the request gets 503 + ``Retry-After`` at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[Callable[[int], None]]:
        """A ``take(size)`` for one request; what it took is given back when the block ends.

        >>> budget = BodyBudget(10)
        >>> with budget.hold() as take:
        ...     take(8)
        ...     take(3)
        Traceback (most recent call last):
        evana.errors.ServiceUnavailableError: ...
        >>> budget.used
        0
        """
        held = 0

        def take(size: int) -> None:
            nonlocal held
            if self.used + size > self.limit:
                raise ServiceUnavailableError(
                    "the server is busy reading other batches; retry shortly", retry_after=1
                )
            self.used += size
            held += size

        try:
            yield take
        finally:
            self.used -= held
