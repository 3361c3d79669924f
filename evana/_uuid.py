"""UUIDv7 (RFC 9562): time-ordered ids, so new events land at the right edge of the key index."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["uuid7"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """Return a new UUIDv7, monotonic within this process.

    Layout: 48-bit Unix milliseconds, version 7, a 12-bit counter seeded at random each
    millisecond (RFC 9562 §6.2 method 1, so ids made in the same millisecond still sort in
    order), variant, 62 random bits.

    >>> a, b = uuid7(), uuid7()
    >>> a.version, a < b
    (7, True)
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            # Leave headroom below 0xFFF so a burst inside one millisecond keeps counting up.
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _counter += 1
            if _counter > 0xFFF:  # more than ~2k ids in one millisecond: borrow the next one
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)
