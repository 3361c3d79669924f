"""Funnels over every person at once, in whole-array steps.

When no event matches two steps (the usual funnel: steps of distinct event names, or filters
that never overlap), the definitions of ``_funnel`` simplify, since an event only ever fills the
one step it matches:

- *ordered*: from an entry at t0, the chain's step k is the earliest step-k event of the person
  at or after step k-1's timestamp, if it is at most t0 + window;
- *any order*: an entry's level is the number of steps with an event of the person in
  [t, t + window].

Either is one binary search per step for all entries of all persons together, over each step's
events sorted by (person, time), instead of a Python loop per person; the result is the same,
figure for figure (the tests hold it to the per-person algorithm and to a brute force).

Persons and times are packed into one sortable integer key, ``person rank << bits | time``, so
that one ``searchsorted`` finds, for every entry at once, the first event of the same person at
or after a time (the person matches when the found key's rank is the entry's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evana.insights import FunnelQuery, FunnelResult

from ._funnel import funnel_result

__all__ = ["array_funnel"]

#: Bits a key may use: it stays a non-negative int64.
_KEY_BITS = 62


def _ranks(pids: np.ndarray) -> tuple[np.ndarray, int]:
    """Each row's person as a dense rank (0, 1, ... in person number order), and how many."""
    top = int(pids.max()) + 1
    if top <= 8 * len(pids) + (1 << 20):
        seen = np.zeros(top, dtype=bool)
        seen[pids] = True
        table = np.cumsum(seen, dtype=np.int64) - 1
        return table[pids], int(table[-1]) + 1
    unique, inverse = np.unique(pids, return_inverse=True)
    return inverse.astype(np.int64), len(unique)


def _times(
    micros: np.ndarray, room: int, low: int, span: int
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Times (from ``low`` to ``low + span``) as small non-negative integers in the same order
    (equal stay equal) that fit in ``room`` bits, and how to turn them back into µs: offsets
    from ``low`` when they fit (None: add it back), else ranks (the distinct µs, indexed by
    rank); None if neither fits."""
    if span.bit_length() <= room:
        offsets: np.ndarray = micros - low
        return offsets, None
    unique, inverse = np.unique(micros, return_inverse=True)
    if (len(unique) - 1).bit_length() > room:
        return None
    return inverse.astype(np.int64), unique


@dataclass(frozen=True, slots=True)
class _Steps:
    """Each step's events as sorted keys ``person rank << shift | time``."""

    keys: list[np.ndarray]
    shift: int
    first_micros: int
    #: The distinct µs when times are ranks; None when they are offsets from ``first_micros``.
    distinct: np.ndarray | None

    def person(self, keys: np.ndarray) -> np.ndarray:
        """The person ranks of keys."""
        return keys >> self.shift

    def micros(self, keys: np.ndarray) -> np.ndarray:
        """The µs timestamps of keys."""
        low = keys & ((1 << self.shift) - 1)
        if self.distinct is None:
            return low + self.first_micros
        found: np.ndarray = self.distinct[low]
        return found

    def next_at(self, k: int, at: np.ndarray, until: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key of ``at``: whether step k has an event of the same person at or after
        its time and at most ``until`` µs, and that earliest event's key (where it has)."""
        candidates = self.keys[k]
        if not len(candidates):
            return np.zeros(len(at), dtype=bool), at
        found = np.searchsorted(candidates, at, side="left")
        inside = found < len(candidates)
        found = candidates[np.minimum(found, len(candidates) - 1)]
        inside &= self.person(found) == self.person(at)
        inside &= self.micros(found) <= until
        return inside, found


def _steps(pids: np.ndarray, micros: np.ndarray, runs: _Runs, n: int) -> _Steps | None:
    """The events packed per step (None: they do not fit in a key)."""
    low = int(micros.min())
    span = int(micros.max()) - low
    # Person numbers serve as they are when they leave room for the times (as with a few
    # million persons over a month), else their dense ranks.
    top = int(pids.max())
    if _KEY_BITS - max(top.bit_length(), 1) >= span.bit_length():
        rank, persons = pids.astype(np.int64), top + 1
    else:
        rank, persons = _ranks(pids)
    shift = _KEY_BITS - max((persons - 1).bit_length(), 1)
    packed = _times(micros, shift, low, span)
    if packed is None:
        return None
    times, distinct = packed
    keys = rank << shift | times
    # A key holds all there is to know of an event, so each step needs its keys only. Event
    # times come in person order (``read_times``): a sort that merges runs (timsort) then
    # costs a pass, where a quicksort would start from scratch.
    return _Steps(
        [np.sort(runs.of(keys, 1 << k), kind="stable") for k in range(n)], shift, low, distinct
    )


@dataclass(frozen=True, slots=True)
class _Runs:
    """The step masks of the events as runs of equal masks: where each starts (and the end),
    and its mask. Event times come grouped by event name, so a funnel of names has a run per
    step, and each step's events are a slice."""

    bounds: np.ndarray
    masks: np.ndarray
    all_masks: np.ndarray

    @classmethod
    def of_masks(cls, masks: np.ndarray) -> _Runs:
        starts = np.r_[0, np.flatnonzero(masks[1:] != masks[:-1]) + 1]
        return cls(np.r_[starts, len(masks)], masks[starts], masks)

    def single_steps(self) -> bool:
        """Whether every event matches one step only."""
        return not bool((self.masks & (self.masks - 1)).any())

    def of(self, values: np.ndarray, mask: int) -> np.ndarray:
        """The values of the events whose mask is ``mask``."""
        where = np.flatnonzero(self.masks == mask)
        if len(where) == 1:
            return values[self.bounds[where[0]] : self.bounds[where[0] + 1]]
        selected: np.ndarray = values[self.all_masks == mask]
        return selected


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted keys, each once (events of one person and timestamp have one chain)."""
    return keys[np.r_[True, keys[1:] != keys[:-1]]]


def _person_starts(ranks: np.ndarray) -> np.ndarray:
    """Where each person's run of (sorted) entries starts."""
    return np.flatnonzero(np.r_[True, ranks[1:] != ranks[:-1]])


def array_funnel(
    query: FunnelQuery, pids: np.ndarray, micros: np.ndarray, masks: np.ndarray
) -> FunnelResult | None:
    """The funnel of events (person number, µs timestamp, step mask, any row order; every
    mask non-zero); None when some event matches several steps (the per-person algorithm
    then applies)."""
    n = len(query.steps)
    nobody = funnel_result(query, [0] * (n + 1), [[] for _ in range(n)])
    if not len(pids):
        return nobody
    runs = _Runs.of_masks(masks)
    if not runs.single_steps():
        return None
    steps = _steps(pids, micros, runs, n)
    if steps is None:
        return None
    window = query.window.seconds * 1_000_000
    if query.order == "any":
        return _any_order(query, steps, window)
    if not len(steps.keys[0]):
        return nobody
    return _ordered(query, steps, window)


def _any_order(query: FunnelQuery, steps: _Steps, window: int) -> FunnelResult:
    """Any order: as an event fills only its own step, the largest matching in an entry's
    window is the number of steps with an event in it; a person's level is the best entry's."""
    n = len(query.steps)
    entries = _distinct(np.sort(np.concatenate(steps.keys), kind="stable"))  # sorted runs
    until = steps.micros(entries) + window
    level = np.zeros(len(entries), dtype=np.int64)
    for k in range(n):
        level += steps.next_at(k, entries, until)[0]
    best = np.maximum.reduceat(level, _person_starts(steps.person(entries)))
    return funnel_result(query, np.bincount(best, minlength=n + 1).tolist(), [[] for _ in range(n)])


def _ordered(query: FunnelQuery, steps: _Steps, window: int) -> FunnelResult:
    """Ordered: from each entry, each next step's earliest event at or after the previous
    step's, within the entry's window; the person's level and times are those of their
    earliest entry reaching the furthest."""
    n = len(query.steps)
    entry_keys = _distinct(steps.keys[0])
    entry_micros = steps.micros(entry_keys)
    entries = len(entry_keys)
    level = np.ones(entries, dtype=np.int64)
    taus = [entry_micros]
    alive = np.arange(entries)
    at = entry_keys
    for k in range(1, n):
        inside, found = steps.next_at(k, at, entry_micros[alive] + window)
        alive, at = alive[inside], found[inside]
        level[alive] += 1
        reached = np.zeros(entries, dtype=np.int64)
        reached[alive] = steps.micros(at)
        taus.append(reached)
        if not len(alive):
            break
    # Entries are in (person, time) order: a person's best is the highest (level, earliest),
    # the largest score ``level << bits | entries - 1 - entry`` of their run.
    bits = max(entries.bit_length(), 1)
    score = level << bits | (entries - 1 - np.arange(entries))
    best = np.maximum.reduceat(score, _person_starts(steps.person(entry_keys)))
    chosen = entries - 1 - (best & ((1 << bits) - 1))
    levels = np.bincount(best >> bits, minlength=n + 1).tolist()
    gaps: list[Sequence[int] | np.ndarray] = [np.empty(0, dtype=np.int64)]
    for k in range(1, n):
        through = chosen[level[chosen] > k]
        gaps.append(taus[k][through] - taus[k - 1][through] if len(through) else through)
    return funnel_result(query, levels, gaps)
