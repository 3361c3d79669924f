"""The funnel of DESIGN.md "Insights" over each person's matched events, exact and in memory.

The caller has already chosen the events in [since, until] and evaluated every step's name and
filters: a person is a timestamp-sorted sequence of ``(timestamp_us, step_mask)``, bit k of the
mask set when the event matches step k. An event may match several steps (two steps on the same
event name); events matching no step may be left out. Here only the definitions are applied.

*Ordered.* A person enters with any step-0 event. From an entry at t the chain takes each next
step as the earliest matching event at or after the previous step's timestamp and at most
t + window; one event fills one step only. Order between events that share a timestamp means
nothing (the store returns them in any order), so the result never depends on it: a candidate
may be any event not already in the chain whose timestamp is at or after the previous step's,
whether it comes before or after that step's event in the sequence, and among events of one
timestamp the steps are matched to distinct events so that as many consecutive steps as
possible are filled there (events at one timestamp as a bipartite matching, steps k, k+1, ...
taken while a matching exists). That chain fills every step at its earliest possible timestamp,
so it is both the longest chain from t and the earliest one; entries sharing a timestamp are one
entry. A person's level is the longest chain over all entries; ``users`` of step k counts
persons with level > k. ``median_seconds`` of step k >= 1 is the lower middle, over persons
reaching step k, of the seconds from step k-1 to step k in the chain of the person's earliest
entry that reaches their level.

*Any order.* An entry is an event of any step; its level is the size of a maximum matching
between steps and the events in [t, t + window] (an event fills one step; a maximum matching
can always include the entry in one of its steps). ``median_seconds`` is null throughout.

A worked example, a window of one hour, steps signup then purchase:

>>> from evana.insights import FunnelQuery
>>> q = FunnelQuery.model_validate({"since": "2026-01-01", "until": "2026-01-01",
...     "steps": [{"event": "signup"}, {"event": "purchase"}],
...     "window": {"value": 1, "unit": "hour"}})
>>> HOUR = 3_600_000_000
>>> ann = [(0, 0b01), (90_000_000, 0b10)]           # buys 90 s after signing up
>>> bob = [(0, 0b01), (HOUR + 1, 0b10)]             # buys one microsecond too late
>>> eve = [(5, 0b10)]                               # never signs up: never enters
>>> r = compute_funnel(q, [ann, bob, eve])
>>> [(s.event, s.users, s.conversion, s.median_seconds) for s in r.steps]
[('signup', 2, 1.0, None), ('purchase', 1, 0.5, 90.0)]
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from evana.insights import FunnelQuery, FunnelResult, FunnelStepResult

__all__ = ["compute_funnel", "funnel_result"]

Events = Sequence[tuple[int, int]]


def compute_funnel(query: FunnelQuery, persons: Iterable[Events]) -> FunnelResult:
    """Count each step's persons, conversions and median step times, as DESIGN.md defines them.

    ``persons`` yields, per person, the events in [since, until] sorted by timestamp as
    ``(timestamp_microseconds, step_mask)``. The module docstring spells out the definitions.

    >>> from evana.insights import FunnelQuery
    >>> q = FunnelQuery.model_validate({"since": "2026-01-01", "until": "2026-01-02",
    ...     "steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "order": "any"})
    >>> [s.users for s in compute_funnel(q, [[(1, 0b100), (2, 0b001)], [(7, 0b010)]]).steps]
    [2, 1, 0]
    """
    n = len(query.steps)
    window_us = query.window.seconds * 1_000_000
    # levels[L]: persons whose level is exactly L.
    levels = [0] * (n + 1)
    if query.order == "any":
        for events in persons:
            levels[_any_level(events, n, window_us)] += 1
        gaps: list[list[int]] = [[] for _ in range(n)]
    else:
        gaps = [[] for _ in range(n)]
        for events in persons:
            level, taus = _ordered_person(events, n, window_us)
            levels[level] += 1
            for k in range(1, level):
                gaps[k].append(taus[k] - taus[k - 1])
    return funnel_result(query, levels, gaps)


def funnel_result(
    query: FunnelQuery, levels: Sequence[int], gaps: Sequence[Sequence[int] | np.ndarray]
) -> FunnelResult:
    """The result from how many persons stopped at each level (``levels[L]``: level exactly
    L) and, per step k >= 1, the µs from step k-1 to step k of each person reaching k."""
    n = len(query.steps)
    users = [0] * n
    reached = 0
    for k in range(n - 1, -1, -1):
        reached += levels[k + 1]
        users[k] = reached
    steps = []
    for k, step in enumerate(query.steps):
        if users[0] == 0:
            conversion = 0.0
        elif k == 0:
            conversion = 1.0
        else:
            conversion = users[k] / users[0]
        median: float | None = None
        if len(gaps[k]):
            middle = (len(gaps[k]) - 1) // 2
            chosen = np.partition(np.asarray(gaps[k], dtype=np.int64), middle)[middle]
            median = int(chosen) / 1_000_000
        steps.append(
            FunnelStepResult(
                event=step.event, users=users[k], conversion=conversion, median_seconds=median
            )
        )
    return FunnelResult(steps=steps)


# A single-bit mask to its step; any other mask (several steps, or none) is absent.
_BIT = {1 << k: k for k in range(64)}
# (group masks, first step, steps) -> how many steps from the first one distinct events fill.
_RUNS: dict[tuple[tuple[int, ...], int, int], int] = {}
# ((mask, events of it)..., steps) -> size of a maximum step-event matching.
_MATCHINGS: dict[tuple[tuple[tuple[int, int], ...], int], int] = {}
# Bounds the memo tables: keys are small but their variety follows the data. Threads may share
# them: a lost or cleared entry only costs computing it again.
_MEMO_LIMIT = 100_000


@functools.cache
def _steps_of(mask: int) -> tuple[int, ...]:
    """The steps a mask matches."""
    return tuple(k for k in range(mask.bit_length()) if mask >> k & 1)


def _ordered_person(events: Events, n: int, window_us: int) -> tuple[int, list[int]]:
    """The person's level and, for the earliest entry reaching it, each step's timestamp."""
    full = (1 << n) - 1
    lists: list[list[int]] = [[] for _ in range(n)]
    bit = _BIT
    several = False
    for ts, mask in events:
        k = bit.get(mask & full)
        if k is not None:
            lists[k].append(ts)
        elif mask & full:
            several = True
            for k in _steps_of(mask & full):
                lists[k].append(ts)
    if not lists[0]:
        return 0, []
    if not several:
        # An event fills the one step it matches, so any event at or after the previous
        # step's timestamp is another event: equal timestamps may follow each other.
        return _ordered_chains(lists, n, window_us, bisect_left)
    if _has_ties(events, full):
        return _ordered_general(events, n, window_us)
    # Timestamps are distinct, so the next step's event is the first one strictly after.
    return _ordered_chains(lists, n, window_us, bisect_right)


def _has_ties(events: Events, full: int) -> bool:
    """Whether two events matching some step share a timestamp."""
    last = None
    for ts, mask in events:
        if mask & full:
            if ts == last:
                return True
            last = ts
    return False


def _ordered_chains(
    lists: list[list[int]], n: int, window_us: int, after: Callable[[list[int], int], int]
) -> tuple[int, list[int]]:
    """Each entry's chain over per-step timestamps, ``after`` finding the next step's event."""
    entries = lists[0]
    best = 0
    best_taus: list[int] = []
    i = 0
    count = len(entries)
    while i < count:
        t0 = entries[i]
        end = t0 + window_us
        taus = [t0]
        prev = t0
        level = n
        hard = False
        next_at = 0
        for k in range(1, n):
            lst = lists[k]
            j = after(lst, prev)
            if j == len(lst):
                level, hard = k, True
                break
            ts = lst[j]
            if ts > end:
                level, next_at = k, ts
                break
            taus.append(ts)
            prev = ts
        if level > best:
            best, best_taus = level, taus
            if level == n:
                break
        if hard:
            # A later entry's chain is nowhere earlier than this one (the chain fills each
            # step at its earliest possible time), so step `level` stays out of its reach.
            break
        # The window ended the chain: to go further, a later entry needs step `level`, no
        # earlier than next_at, in its window; entries before next_at - window cannot, and
        # next_at - window > t0 skips the entries sharing t0 (their chain is this one).
        i = bisect_left(entries, next_at - window_us, i + 1)
    return best, best_taus


def _ordered_general(events: Events, n: int, window_us: int) -> tuple[int, list[int]]:
    """:func:`_ordered_person` when some event matches several steps."""
    times, keys, step_times, step_groups = _timestamp_groups(events, n)
    entries, entry_times = step_groups[0], step_times[0]
    best = 0
    best_taus: list[int] = []
    i = 0
    while i < len(entries):
        t0 = entry_times[i]
        taus: list[int] = []
        group = entries[i]
        k = 0
        while True:
            run = _run(keys[group], k, n)
            taus.extend([times[group]] * run)
            k += run
            if k == n:
                break
            j = bisect_right(step_times[k], times[group])
            if j == len(step_times[k]):
                next_at = -1
                break
            group = step_groups[k][j]
            if times[group] > t0 + window_us:
                next_at = times[group]
                break
        if k > best:
            best, best_taus = k, taus
        if k == n or next_at < 0:
            break
        i = bisect_left(entry_times, next_at - window_us, i + 1)
    return best, best_taus


def _timestamp_groups(
    events: Events, n: int
) -> tuple[list[int], list[tuple[int, ...]], list[list[int]], list[list[int]]]:
    """Events grouped by timestamp: the times, each group's sorted masks, and per step the
    times and indices of the groups holding an event of that step."""
    full = (1 << n) - 1
    times: list[int] = []
    groups: list[list[int]] = []
    for ts, mask in events:
        if not mask & full:
            continue
        if times and times[-1] == ts:
            groups[-1].append(mask & full)
        else:
            times.append(ts)
            groups.append([mask & full])
    step_times: list[list[int]] = [[] for _ in range(n)]
    step_groups: list[list[int]] = [[] for _ in range(n)]
    for index, masks in enumerate(groups):
        union = 0
        for mask in masks:
            union |= mask
        for k in range(n):
            if union >> k & 1:
                step_times[k].append(times[index])
                step_groups[k].append(index)
    return times, [tuple(sorted(masks)) for masks in groups], step_times, step_groups


def _run(masks: tuple[int, ...], first: int, n: int) -> int:
    """How many steps first, first+1, ... events of one timestamp fill, each event one step."""
    if len(masks) == 1:
        return 1
    key = (masks, first, n)
    run = _RUNS.get(key)
    if run is None:
        owner = [-1] * len(masks)
        run = 0
        for step in range(first, n):
            if not _augment(step, masks, owner, set()):
                break
            run += 1
        if len(_RUNS) >= _MEMO_LIMIT:
            _RUNS.clear()
        _RUNS[key] = run
    return run


def _augment(step: int, masks: Sequence[int], owner: list[int], seen: set[int]) -> bool:
    """Kuhn's augmenting path: give ``step`` an event, moving other steps along if needed."""
    for e, mask in enumerate(masks):
        if mask >> step & 1 and e not in seen:
            seen.add(e)
            if owner[e] < 0 or _augment(owner[e], masks, owner, seen):
                owner[e] = step
                return True
    return False


def _matching(counts: dict[int, int], n: int) -> int:
    """The size of a maximum matching between steps 0..n-1 and events, ``counts[mask]`` a mask."""
    key = (tuple(sorted(counts.items())), n)
    size = _MATCHINGS.get(key)
    if size is None:
        # Past its number of steps, one more event of a mask cannot be matched.
        masks = [m for m, c in key[0] for _ in range(min(c, m.bit_count()))]
        owner = [-1] * len(masks)
        size = sum(1 for step in range(n) if _augment(step, masks, owner, set()))
        if len(_MATCHINGS) >= _MEMO_LIMIT:
            _MATCHINGS.clear()
        _MATCHINGS[key] = size
    return size


def _any_level(events: Events, n: int, window_us: int) -> int:
    """The highest entry level of an any-order funnel: steps matched within one window."""
    full = (1 << n) - 1
    times: list[int] = []
    masks: list[int] = []
    union = 0
    for ts, mask in events:
        mask &= full
        if mask:
            times.append(ts)
            masks.append(mask)
            union |= mask
    if not times:
        return 0
    ceiling = union.bit_count()
    single = not any(m & (m - 1) for m in masks)
    if times[-1] - times[0] <= window_us:
        # The first event's window holds every event.
        if single:
            return ceiling
        counts: dict[int, int] = {}
        for mask in masks:
            counts[mask] = counts.get(mask, 0) + 1
        return _matching(counts, n)
    return _any_sliding(times, masks, n, window_us, ceiling, single)


def _any_sliding(
    times: list[int], masks: list[int], n: int, window_us: int, ceiling: int, single: bool
) -> int:
    """:func:`_any_level` with a window sliding over the entries, from the earliest."""
    # counts[mask]: the window's events of that mask; the window is [times[left], +window].
    counts: dict[int, int] = {}
    best = 0
    right = 0
    size = len(times)
    left = 0
    while left < size:
        t0 = times[left]
        end = t0 + window_us
        grew = False
        while right < size and times[right] <= end:
            mask = masks[right]
            counts[mask] = counts.get(mask, 0) + 1
            right += 1
            grew = True
        # A window that took no new event holds a subset of the previous one's events.
        if grew:
            level = len(counts) if single else _matching(counts, n)
            if level > best:
                best = level
                if best == ceiling or right == size:
                    break
        # Entries sharing a timestamp share a window: move past all of them.
        while left < size and times[left] == t0:
            mask = masks[left]
            c = counts[mask] - 1
            if c:
                counts[mask] = c
            else:
                del counts[mask]
            left += 1
    return best
