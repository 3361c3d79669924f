"""Report endpoints that run in the thread pool in one hop.

FastAPI runs a plain function endpoint in its thread pool, and then, for a response model,
validates the answer in a second hop to the pool. A coroutine endpoint that hands its work to
the pool itself costs one hop: its answer (already an instance of the response model) is
validated on the event loop, where that is a type check.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

__all__ = ["in_thread"]

P = ParamSpec("P")
T = TypeVar("T")


def in_thread(report: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``report`` (database reads and CPU) as a coroutine endpoint that runs it in the thread
    pool; FastAPI reads the parameters and their annotations from ``report``."""

    @functools.wraps(report)
    async def endpoint(*args: P.args, **kwargs: P.kwargs) -> T:
        return await run_in_threadpool(report, *args, **kwargs)

    return endpoint
