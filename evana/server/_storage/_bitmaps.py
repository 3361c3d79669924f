"""Roaring bitmaps of rollup rows, read in bulk and cached by row id.

Rollup rows are immutable: a write inserts new rows and a compaction deletes rows and inserts
the merged one under a new id (ids are never reused, on either dialect). So a bitmap cached
under its row id can never go stale, and a report whose rows are all cached reads only ids,
days and names from the database — never the bitmaps again. For the same reason the union of
a set of rows, cached under their ids, never goes stale either.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

import numpy as np
from pyroaring import FrozenBitMap
from sqlalchemy import Connection

from ._multiset import Multiset
from ._packs import Values

__all__ = ["BitmapCache", "BitmapSource", "RowCache", "load_bitmaps", "load_rows"]

V = TypeVar("V")


class BitmapSource(Protocol):
    """Where serialized bitmaps of rollup rows come from: a database dialect (``Dialect``)."""

    def fetch_bitmaps(self, conn: Connection, ids: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        """``(id, serialized bitmap)`` of rollup rows ``ids``, in the current transaction."""
        ...


class RowCache(Generic[V]):
    """A thread-safe LRU of values read from immutable rows (by row id), bounded by size.

    Entries remember their rollup key (day, event): when a report reads a key's complete list
    of live row ids, entries of that key's merged-away rows are dropped at once, so the cache
    holds live rows rather than filling up with the dead ones compaction leaves behind.

    >>> cache = BitmapCache(max_bytes=1024)
    >>> cache.put(7, FrozenBitMap([1, 2]), 20, ("2026-11-02", ""))
    >>> cache.get_many([7, 8])
    {7: FrozenBitMap([1, 2])}
    >>> cache.retain({("2026-11-02", ""): {9}}); len(cache)
    0
    """

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        # Keyed by a row id, or by the sorted row ids of a union (whose rollup key is None).
        self._items: OrderedDict[int | tuple[int, ...], tuple[V, int, Hashable]] = OrderedDict()
        self._ids_by_key: dict[Hashable, set[int]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get_many(self, ids: Iterable[int]) -> dict[int, V]:
        """The cached bitmaps among ``ids`` (each marked as recently used)."""
        found = {}
        with self._lock:
            for row_id in ids:
                item = self._items.get(row_id)
                if item is not None:
                    self._items.move_to_end(row_id)
                    found[row_id] = item[0]
        return found

    def put(self, row_id: int, value: V, size: int, key: Hashable) -> None:
        """Remember ``value`` (``size`` bytes), evicting the least recently used."""
        self._insert(row_id, value, size, key)

    def get_union(self, ids: tuple[int, ...]) -> V | None:
        """The cached union of the rows ``ids`` (sorted), if any.

        >>> cache = BitmapCache()
        >>> cache.put_union((3, 7), FrozenBitMap([1, 5]), 40)
        >>> cache.get_union((3, 7)), cache.get_union((3,))
        (FrozenBitMap([1, 5]), None)
        """
        with self._lock:
            item = self._items.get(ids)
            if item is None:
                return None
            self._items.move_to_end(ids)
            return item[0]

    def put_union(self, ids: tuple[int, ...], value: V, size: int) -> None:
        """Remember the union of the rows ``ids`` (sorted). It is never dropped by
        :meth:`retain`: once one of its rows is merged away no report asks for it again, and
        it ages out of the LRU."""
        self._insert(ids, value, size, None)

    def _insert(self, item_id: int | tuple[int, ...], value: V, size: int, key: Hashable) -> None:
        """Add an entry (a row's, under its rollup ``key``; a union's, key None) unless it is
        there or too big, evicting the least recently used."""
        if size > self.max_bytes:
            return
        with self._lock:
            if item_id in self._items:
                return
            self._items[item_id] = (value, size, key)
            if key is not None:
                self._ids_by_key.setdefault(key, set()).add(item_id)  # type: ignore[arg-type]
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def retain(self, live: Mapping[Hashable, Collection[int]]) -> None:
        """Forget cached rows of these keys that are not among their live row ids."""
        with self._lock:
            for key, ids in live.items():
                for row_id in self._ids_by_key.get(key, set()).difference(ids):
                    self._drop(row_id)

    def _drop(self, row_id: int | tuple[int, ...]) -> None:
        _, size, key = self._items.pop(row_id)
        self._bytes -= size
        if key is None:  # a union
            return
        ids = self._ids_by_key[key]
        ids.discard(row_id)
        if not ids:
            del self._ids_by_key[key]

    def __len__(self) -> int:
        return len(self._items)


class BitmapCache(RowCache[FrozenBitMap]):
    """Deserialized bitmaps of rollup rows (and unions of them), and beside them, in
    :attr:`times`, :attr:`multisets`, :attr:`values` and :attr:`counts`, the records of
    ``event_times`` rows, the multisets of ``number_rollups`` rows and the values (and the
    counts alone) of ``property_rollups`` rows: those tables' rows are immutable too, so
    nothing here can go stale. One per server, shared by every report."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        super().__init__(max_bytes)
        #: Records (``_times.RECORD`` arrays) of event-times rows, by row id.
        self.times: RowCache[np.ndarray] = RowCache(max_bytes)
        #: An event name's uids and times over some days, in person order, by the ids of its
        #: event-times rows (unions only; see ``_times.read_times``).
        self.runs: RowCache[tuple[np.ndarray, np.ndarray]] = RowCache(max_bytes)
        #: The multisets of number rollup rows, decoded, by row id.
        self.multisets: RowCache[Multiset] = RowCache(max_bytes)
        #: The values (``_packs.Values``) of property rollup rows, by row id.
        self.values: RowCache[Values] = RowCache(max_bytes)
        #: The events per value (``_packs.tally``) of property rollup rows, by row id.
        self.counts: RowCache[dict[str, int]] = RowCache(max_bytes)


def load_rows(
    rows: Sequence[tuple[int, Hashable]],
    cache: RowCache[V] | None,
    fetch: Callable[[list[int]], Iterable[tuple[int, bytes]]],
    decode: Callable[[bytes], tuple[V, int]],
) -> dict[int, V]:
    """The values of immutable rows ``(id, key)``: from ``cache``, the rest ``fetch``-ed by id
    in one read and ``decode``-d into (value, its size in bytes).

    ``rows`` must hold every live row of each key it names (a report's query does), so the
    cache can forget that key's other rows.
    """
    found: dict[int, V] = {}
    if cache is not None:
        live: dict[Hashable, set[int]] = {}
        for row_id, key in rows:
            live.setdefault(key, set()).add(row_id)
        cache.retain(live)
        found = cache.get_many(row_id for row_id, _ in rows)
    key_of = dict(rows)
    for row_id, blob in fetch([row_id for row_id, _ in rows if row_id not in found]):
        value, size = decode(blob)
        found[row_id] = value
        if cache is not None:
            cache.put(row_id, value, size, key_of[row_id])
    return found


def load_bitmaps(
    conn: Connection,
    dialect: BitmapSource,
    rows: Sequence[tuple[int, Hashable]],
    cache: BitmapCache | None,
) -> dict[int, FrozenBitMap]:
    """The bitmaps of rollup rows ``(id, key)``: from the cache, the rest in one bulk read
    (see :func:`load_rows`)."""
    return load_rows(
        rows,
        cache,
        lambda ids: dialect.fetch_bitmaps(conn, ids),
        lambda blob: (FrozenBitMap.deserialize(blob), len(blob)),
    )
