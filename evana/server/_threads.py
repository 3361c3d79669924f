"""Blocking request work (key lookups, reports) in a pool of threads of its own.

FastAPI runs a plain function (an endpoint or a dependency) through anyio's ``to_thread``,
which takes a capacity limiter and opens a cancel scope on the way out and back; and for an
endpoint with a response model it validates the answer in a second hop. A coroutine that
hands its blocking work to :func:`in_pool` costs one hop through asyncio's executor (a
future and a wake-up of the loop), and its answer, already an instance of the response
model, is validated on the event loop, where that is a type check.

The pool is evana's own, as many threads as anyio's default limit, so that a burst of slow
reports never holds up the threads asyncio keeps for the embedded worker's writes and the
readiness checks.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["in_pool", "in_thread"]

P = ParamSpec("P")
T = TypeVar("T")

#: Threads for blocking request work: anyio's default limit, which FastAPI used before.
THREADS = 40

_pool = ThreadPoolExecutor(THREADS, thread_name_prefix="evana-request")


async def in_pool(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)`` in the request pool, awaited: never on the event loop."""
    call = functools.partial(work, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)


def in_thread(report: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``report`` (database reads and CPU) as a coroutine endpoint that runs it in the request
    pool; FastAPI reads the parameters and their annotations from ``report``."""

    @functools.wraps(report)
    async def endpoint(*args: P.args, **kwargs: P.kwargs) -> T:
        return await in_pool(report, *args, **kwargs)

    return endpoint
