"""The garbage collector's view of a long-running process that evana owns.

Called by the commands that start one (``evana serve``, each ``--workers`` process,
``evana worker``, the local backfill's writer), never by ``create_app`` or a library call: a
host application's heap, or a test run's, is not evana's to freeze.
"""

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
