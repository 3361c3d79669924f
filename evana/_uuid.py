"""UUIDv7 (RFC 9562): time-ordered ids, so new events land at the right edge of the key index.

Every ``track()`` makes one, on the application's thread, so it is kept cheap: the random bits
come from the operating system's CSPRNG (``os.urandom``) read a few kilobytes at a time rather
than by two system calls per id, and the ``UUID`` is built without re-validating an integer made
here. A forked child drops the parent's unread random bytes, so parent and child never share
them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["uuid7"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0

# Random bytes read ahead from os.urandom: 8 per id (62 bits used), 2 per new millisecond.
_CHUNK = 4096
_pool = b""
_at = 0

_RANDOM_MASK = (1 << 62) - 1
_MS_MASK = (1 << 48) - 1
_VERSION_AND_VARIANT = 0x7 << 76 | 0b10 << 62
_new_uuid = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown
_from_bytes = int.from_bytes


def _forget_pool() -> None:
    """In a forked child: read fresh random bytes rather than repeat the parent's."""
    global _pool, _at, _lock
    _pool, _at = b"", 0
    _lock = threading.Lock()  # the parent may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _random(size: int) -> int:
    """``size`` random bytes as an integer; the caller holds ``_lock``."""
    global _pool, _at
    if _at + size > len(_pool):
        _pool, _at = os.urandom(_CHUNK), 0
    start = _at
    _at = start + size
    return _from_bytes(_pool[start : start + size], "big")


def uuid7() -> uuid.UUID:
    """Return a new UUIDv7, monotonic within this process.

    Layout: 48-bit Unix milliseconds, version 7, a 12-bit counter seeded at random each
    millisecond (RFC 9562 §6.2 method 1, so ids made in the same millisecond still sort in
    order), variant, 62 random bits.

    >>> a, b = uuid7(), uuid7()
    >>> a.version, a.variant == uuid.RFC_4122, a < b
    (7, True, True)
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            # Leave headroom below 0xFFF so a burst inside one millisecond keeps counting up.
            _counter = _random(2) & 0x7FF
        else:
            _counter += 1
            if _counter > 0xFFF:  # more than ~2k ids in one millisecond: borrow the next one
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        counter = _counter
        rand = _random(8) & _RANDOM_MASK
    made = _new_uuid(uuid.UUID)
    # The fields uuid.UUID(int=...) sets, without its range checks: every part is masked above.
    _set(made, "int", (ms & _MS_MASK) << 80 | counter << 64 | _VERSION_AND_VARIANT | rand)
    _set(made, "is_safe", _UNKNOWN)
    return made
