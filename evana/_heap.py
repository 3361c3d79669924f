"""The garbage collector's and the C heap's settings in a long-running process that evana owns.

Called by the commands that start one (``evana serve``, each ``--workers`` process,
``evana worker``, the local backfill's writer), never by ``create_app`` or a library call: a
host application's heap, or a test run's, is not evana's to freeze or to tune.
"""

from __future__ import annotations

import ctypes
import gc

__all__ = ["HEAP_BELOW", "KEEP_FREE", "YOUNG_OBJECTS", "keep_freed_memory", "settle_heap"]

#: Objects allocated (net of those freed) before the collector looks at the young ones: a
#: write of 10,000 events keeps several of them alive per event until it commits.
YOUNG_OBJECTS = 50_000
#: Allocations under this many bytes come from the C heap rather than a mapping of their own
#: (glibc's largest setting).
HEAP_BELOW = 32 << 20
#: Free bytes the C heap keeps at its top before it hands memory back to the system.
KEEP_FREE = 256 << 20

# glibc's mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


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

    Last, :func:`keep_freed_memory`.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, older, oldest)
    keep_freed_memory()


def keep_freed_memory() -> bool:
    """Have the C heap (glibc's) keep the memory a report frees for the next one: allocations
    under :data:`HEAP_BELOW` come from the heap, and up to :data:`KEEP_FREE` of free memory
    stays there. By default glibc maps a large array (a day's persons, a funnel's keys) on its
    own and trims the heap soon after it is freed, so the next report's arrays are new pages
    the kernel must fault in and zero: half the time of stickiness over 30 days at 10M events
    (2,000 page faults a call). The process then holds on to its peak, as it would with
    another allocator. False where the C library has no ``mallopt`` (not glibc), which
    changes nothing.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_BELOW)) and bool(
        mallopt(_M_TRIM_THRESHOLD, KEEP_FREE)
    )
