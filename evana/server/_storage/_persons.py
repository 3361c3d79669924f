"""Persons: distinct ids linked into one person, read as a map from uid to person number.

A person's number (``pid``) is the smallest uid among its distinct ids, so it depends only on
the set of links, never on their order. Rollups keep the uids the events were written with;
reports map them through :class:`PersonMap` (``translate``), so a link counts retroactively
on every day without rewriting any rollup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from pyroaring import AbstractBitMap, BitMap
from sqlalchemy import Connection

if TYPE_CHECKING:
    from ._database import Database

__all__ = ["PersonDirectory", "PersonMap"]


class PersonMap:
    """A snapshot of uid → pid for the uids that belong to a person of several ids.

    >>> persons = PersonMap({5: 2, 9: 2})
    >>> persons.canonical(5), persons.canonical(7)
    (2, 7)
    >>> sorted(persons.translate(BitMap([2, 5, 7, 9])))
    [2, 7]
    """

    def __init__(
        self,
        merged: Mapping[int, int] | None = None,
        properties: Mapping[int, dict[str, Any]] | None = None,
    ) -> None:
        #: uid → pid for every uid that is not its person's number.
        self.merged: dict[int, int] = {u: p for u, p in (merged or {}).items() if u != p}
        self._merged_bitmap = BitMap(self.merged)
        size = (max(self.merged) + 1) if self.merged else 0
        self._lookup = np.arange(size, dtype=np.uint32)
        if self.merged:
            keys = np.fromiter(self.merged.keys(), dtype=np.uint32, count=len(self.merged))
            values = np.fromiter(self.merged.values(), dtype=np.uint32, count=len(self.merged))
            self._lookup[keys] = values
        #: pid → the person's merged properties (only persons that have some).
        self.properties: dict[int, dict[str, Any]] = dict(properties or {})

    def canonical(self, uid: int) -> int:
        """The person number of ``uid``."""
        return self.merged.get(uid, uid)

    def canonical_array(self, uids: np.ndarray) -> np.ndarray:
        """The person number of each uid (an array of the same length)."""
        uids = np.asarray(uids, dtype=np.uint32)
        if not self.merged:
            return uids
        out = uids.copy()
        inside = uids < len(self._lookup)
        out[inside] = self._lookup[uids[inside]]
        return out

    def translate(self, bitmap: AbstractBitMap) -> AbstractBitMap:
        """The persons of a set of uids (each person once, as its number)."""
        if not self.merged:
            return bitmap
        moved = bitmap & self._merged_bitmap
        if not moved:
            return bitmap
        members = np.frombuffer(moved.to_array(), dtype=np.uint32)
        return (bitmap - moved) | BitMap(self._lookup[members])

    def persons(self, uids: Iterable[int]) -> set[int]:
        """The distinct persons of some uids."""
        return {self.canonical(uid) for uid in uids}


class PersonDirectory:
    """Where reports get the current :class:`PersonMap` (kept fresh from the database)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def snapshot(self, conn: Connection) -> PersonMap:
        """The persons as of ``conn``'s read (links committed before it began)."""
        del conn  # links arrive with the persons change; until then every id is its own person
        return PersonMap()
