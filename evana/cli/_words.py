"""Counts in sentences: "1 event", "2 events", "1,000 events" — never "1 events"."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with thousands separators and ``noun``, plural unless ``count`` is 1.

    >>> counted(1, "event"), counted(0, "event"), counted(2500, "dead letter")
    ('1 event', '0 events', '2,500 dead letters')
    >>> counted(1, "entry", "entries"), counted(3, "entry", "entries")
    ('1 entry', '3 entries')
    """
    word = noun if count == 1 else (plural or noun + "s")
    return f"{count:,} {word}"
