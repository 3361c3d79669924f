"""The garbage collector's view of a long-running process that evana owns.

Called by the commands that start one (``evana serve``, each ``--workers`` process,
``evana worker``, the local backfill's writer), never by ``create_app`` or a library call: a
host application's heap, or a test run's, is not evana's to freeze.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_OBJECTS", "settle_heap"]

#: Objects allocated (net of those freed) before the collector looks at the young ones: a
#: write of 10,000 events keeps several of them alive per event until it commits.
YOUNG_OBJECTS = 50_000


def settle_heap() -> None:
    """After start-up: move every object alive now out of the garbage collector's sight.

    Modules, models, routes and caches made at start-up live as long as the process; every
    full collection (which the churn of per-event objects keeps triggering) would walk them all
    again. ``gc.freeze`` exempts them, so collections look at the objects of requests.

    Then collections wait for :data:`YOUNG_OBJECTS` new objects rather than Python's 700. A
    worker's batch is tens of thousands of live objects (events, their properties, the
    rollups' cells): at 700, a collection ran every few hundred events and an older
    generation's every few thousand, each walking the whole batch again, 6% of a worker's
    time with tracked properties. A collection of the young still finds every cycle; it
    only runs less often, over more objects each time.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, older, oldest)
