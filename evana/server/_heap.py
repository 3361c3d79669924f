"""The garbage collector's view of a long-running server process."""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


def settle_heap() -> None:
    """After start-up: move every object alive now out of the garbage collector's sight.

    Modules, models, routes and caches made at start-up live as long as the process; every
    full collection (which the churn of per-event objects keeps triggering) would walk them all
    again. ``gc.freeze`` exempts them, so collections look at the objects of requests.
    """
    gc.collect()
    gc.freeze()
