"""Loaded events seen as persons: which rows a series or step selects, and their property values."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyroaring import AbstractBitMap, BitMap

from evana.insights import Filter
from evana.server._storage import EventRows, PersonMap

from ._filters import compile_where
from ._periods import EPOCH
from ._values import lookup

__all__ = ["DAY_MICROS", "Frame"]

DAY_MICROS = 86_400_000_000


class Frame:
    """Event rows with their person numbers and UTC day numbers."""

    def __init__(self, rows: EventRows, persons: PersonMap) -> None:
        self.rows = rows
        self.persons = persons
        self.pids = persons.canonical_array(rows.uids)
        self._values: dict[str, list[Any]] = {}

    @functools.cached_property
    def days(self) -> np.ndarray:
        """Each row's UTC day number (days since 1970-01-01)."""
        days: np.ndarray = self.rows.micros // DAY_MICROS
        return days

    def __len__(self) -> int:
        return len(self.rows)

    def _person(self, i: int) -> dict[str, Any] | None:
        return self.persons.properties.get(int(self.pids[i]))

    def values(self, key: str) -> list[Any]:
        """Each row's value of ``key`` (event property or ``person.<name>``), None if missing."""
        found = self._values.get(key)
        if found is None:
            props = self.rows.properties or [None] * len(self.rows)
            found = [lookup(key, props[i], self._person(i)) for i in range(len(self.rows))]
            self._values[key] = found
        return found

    def select(self, event: str | None, where: Sequence[Filter]) -> np.ndarray:
        """A boolean mask of the rows of ``event`` (None: any) on which every filter holds."""
        if event is None:
            mask = np.ones(len(self.rows), dtype=bool)
        else:
            mask = self.rows.codes == self.rows.code_of(event)
        predicate = compile_where(where)
        if predicate is not None and mask.any():
            props = self.rows.properties or [None] * len(self.rows)
            for i in np.flatnonzero(mask):
                if not predicate(props[i], self._person(int(i))):
                    mask[i] = False
        return mask

    def persons_by_day(self, mask: np.ndarray) -> dict[dt.date, AbstractBitMap]:
        """The persons of the selected rows on each UTC day that has some."""
        days = self.days[mask]
        pids = self.pids[mask]
        if not len(days):
            return {}
        order = np.argsort(days, kind="stable")
        days, pids = days[order], pids[order]
        unique, starts = np.unique(days, return_index=True)
        out: dict[dt.date, AbstractBitMap] = {}
        for day, part in zip(unique, np.split(pids, starts[1:]), strict=True):
            out[EPOCH + dt.timedelta(days=int(day))] = BitMap(part)
        return out
