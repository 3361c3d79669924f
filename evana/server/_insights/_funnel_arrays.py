"""Ordered funnels over every person at once, in whole-array steps.

When no event matches two steps (the usual funnel: steps of distinct event names, or filters
that never overlap), the definition of ``_funnel`` simplifies: an event only ever fills the one
step it matches, so from an entry at t0 the chain's step k is simply the earliest step-k event
of the person at or after step k-1's timestamp, if it is at most t0 + window. That is one
binary search per step for all entries of all persons together, over each step's events sorted
by (person, time), instead of a Python loop per person; the result is the same, figure for
figure (the tests hold it to the per-person algorithm and to a brute force).

Persons and times are packed into one sortable integer key, ``person rank << bits | time``, so
that one ``searchsorted`` finds, for every entry at once, the first event of the same person at
or after a time (the person matches when the found key's rank is the entry's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evana.insights import FunnelQuery, FunnelResult

from ._funnel import funnel_result

__all__ = ["ordered_funnel"]

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


def _times(micros: np.ndarray, room: int) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Times as small non-negative integers in the same order (equal stay equal) that fit in
    ``room`` bits, and how to turn them back into µs: offsets from the first when they fit
    (None: add the first back), else ranks (the distinct µs, indexed by rank); None if
    neither fits."""
    offsets: np.ndarray = micros - micros.min()
    if int(offsets.max()).bit_length() <= room:
        return offsets, None
    unique, inverse = np.unique(micros, return_inverse=True)
    if (len(unique) - 1).bit_length() > room:
        return None
    return inverse.astype(np.int64), unique


def ordered_funnel(
    query: FunnelQuery, pids: np.ndarray, micros: np.ndarray, masks: np.ndarray
) -> FunnelResult | None:
    """The ordered funnel of events (person number, µs timestamp, step mask, any row order;
    every mask non-zero); None when it is not ordered or some event matches several steps
    (the per-person algorithm then applies)."""
    n = len(query.steps)
    if query.order != "ordered" or bool((masks & (masks - 1)).any()):
        return None
    if not len(pids) or not bool((masks == 1).any()):
        return funnel_result(query, [0] * (n + 1), [[] for _ in range(n)])
    rank, persons = _ranks(pids)
    shift = _KEY_BITS - max((persons - 1).bit_length(), 1)
    packed = _times(micros, shift)
    if packed is None:
        return None
    times, distinct = packed
    low = (1 << shift) - 1
    first_micros = int(micros.min())

    def real(keys: np.ndarray) -> np.ndarray:
        """The µs timestamps of keys."""
        if distinct is None:
            return (keys & low) + first_micros
        found: np.ndarray = distinct[keys & low]
        return found

    keys = rank << shift | times
    window = query.window.seconds * 1_000_000

    # Per step: its events' keys, sorted (a key holds all there is to know of an event).
    step_keys = [np.sort(keys[masks == 1 << k]) for k in range(n)]

    # Entries sharing a person and timestamp have one chain: keep one of them.
    entry_keys = step_keys[0][np.r_[True, step_keys[0][1:] != step_keys[0][:-1]]]
    entry_rank, entry_micros = entry_keys >> shift, real(entry_keys)
    entries = len(entry_keys)
    level = np.ones(entries, dtype=np.int64)
    taus = [entry_micros]
    alive = np.arange(entries)
    at = entry_keys
    for k in range(1, n):
        candidates = step_keys[k]
        found = np.searchsorted(candidates, at, side="left")
        inside = found < len(candidates)
        found = candidates[np.minimum(found, len(candidates) - 1)] if len(candidates) else found
        if len(candidates):
            inside &= (found >> shift) == entry_rank[alive]
            inside &= real(found) <= entry_micros[alive] + window
        alive, at = alive[inside], found[inside]
        level[alive] += 1
        reached = np.zeros(entries, dtype=np.int64)
        reached[alive] = real(at)
        taus.append(reached)
        if not len(alive):
            break

    # A person's level is their best entry's; its times are those of the earliest such entry
    # (entries are in (person, time) order).
    starts = np.flatnonzero(np.r_[True, entry_rank[1:] != entry_rank[:-1]])
    best = np.maximum.reduceat(level, starts)
    sizes = np.diff(np.r_[starts, entries])
    tops = np.flatnonzero(level == np.repeat(best, sizes))
    chosen = tops[np.r_[True, entry_rank[tops][1:] != entry_rank[tops][:-1]]]
    levels = np.bincount(best, minlength=n + 1).tolist()
    gaps: list[Sequence[int] | np.ndarray] = [np.empty(0, dtype=np.int64)]
    for k in range(1, n):
        through = chosen[level[chosen] > k]
        gaps.append(taus[k][through] - taus[k - 1][through] if len(through) else through)
    return funnel_result(query, levels, gaps)
