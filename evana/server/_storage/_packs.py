"""Packed values: every value of one property of one event on one day, in one rollup row.

A ``property_rollups`` row's ``users`` holds, for each distinct value (by its JSON text), how
many events had it and whose they were: a MessagePack array of ``[text, events, bitmap]``
triples sorted by text, each bitmap in the portable roaring format. One row per (day, event,
property) that a write touched, rather than one per value, is what keeps a property of a
hundred values cheap to ingest: a write of a thousand events appends a few dozen rows instead
of several hundred.

>>> from pyroaring import BitMap
>>> blob = pack({'"pro"': (3, BitMap([1, 2])), "null": (1, BitMap([7]))})
>>> unpack(blob)
{'"pro"': (3, BitMap([1, 2])), 'null': (1, BitMap([7]))}
>>> merged = merge([unpack(blob), {'"pro"': (1, BitMap([5]))}])
>>> merged['"pro"'], events_of(merged)
((4, BitMap([1, 2, 5])), 5)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

__all__ = [
    "Values",
    "events_of",
    "merge",
    "pack",
    "tally",
    "unpack",
    "unpack_frozen",
    "unpack_tally",
]

#: Per value text, (events, users).
Values = dict[str, tuple[int, AbstractBitMap]]

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[tuple[str, int, bytes]]).decode
# The bitmaps left undecoded and uncopied: a tally reads the counts alone.
_decode_counts = msgspec.msgpack.Decoder(list[tuple[str, int, msgspec.Raw]]).decode
_decode_tally = msgspec.msgpack.Decoder(list[tuple[str, int]]).decode


def pack(values: Mapping[str, tuple[int, AbstractBitMap]]) -> bytes:
    """The stored form of ``values`` (bitmaps run-optimized first where they are mutable)."""
    triples = []
    for text in sorted(values):
        count, users = values[text]
        if isinstance(users, BitMap):
            users.run_optimize()
        triples.append((text, count, users.serialize()))
    return _encode(triples)


def unpack(blob: bytes) -> dict[str, tuple[int, BitMap]]:
    """The values a row holds."""
    return {text: (count, BitMap.deserialize(raw)) for text, count, raw in _decode(blob)}


def unpack_frozen(blob: bytes) -> Values:
    """The values a row holds, their bitmaps frozen (for a cache shared by readers)."""
    return {text: (count, FrozenBitMap.deserialize(raw)) for text, count, raw in _decode(blob)}


def tally(blob: bytes) -> bytes:
    """The counts alone of a packed row, stored beside it (``property_rollups.counts``): a
    MessagePack array of ``[text, events]`` pairs sorted by text. An insight that counts
    events reads these few kilobytes rather than the row's bitmaps, often a megabyte a month.

    >>> unpack_tally(tally(pack({'"pro"': (3, BitMap([1, 2])), "null": (1, BitMap([7]))})))
    {'"pro"': 3, 'null': 1}
    """
    return _encode([(text, count) for text, count, _ in _decode_counts(blob)])


def unpack_tally(blob: bytes) -> dict[str, int]:
    """The events per value text that :func:`tally` stored."""
    return dict(_decode_tally(blob))


def merge(
    parts: Iterable[Mapping[str, tuple[int, AbstractBitMap]]],
) -> dict[str, tuple[int, BitMap]]:
    """The values of several rows of one key: per value, events added and users united."""
    counts: dict[str, int] = {}
    users: dict[str, list[AbstractBitMap]] = {}
    for part in parts:
        for text, (count, found) in part.items():
            counts[text] = counts.get(text, 0) + count
            users.setdefault(text, []).append(found)
    return {text: (counts[text], BitMap().union(*users[text])) for text in counts}


def events_of(values: Mapping[str, tuple[int, AbstractBitMap]]) -> int:
    """How many events the values count (each event has one value of the property)."""
    return sum(count for count, _ in values.values())
