"""The funnel algorithm against hand-checked cases and a brute force written from DESIGN.md."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evana.insights import FunnelQuery, FunnelResult
from evana.server._insights import _funnel_arrays
from evana.server._insights._funnel import compute_funnel
from evana.server._insights._funnel_arrays import _times, array_funnel

S = 1_000_000  # one second in microseconds
MIN = 60 * S
HOUR = 3600 * S
DAY = 86400 * S
UNIT_US = {"minute": MIN, "hour": HOUR, "day": DAY}

Person = list[tuple[int, int]]


def query(steps: Sequence[str], value: int = 1, unit: str = "hour", order: str = "ordered"):
    return FunnelQuery.model_validate(
        {
            "since": "2026-01-01",
            "until": "2026-01-31",
            "steps": [{"event": e} for e in steps],
            "window": {"value": value, "unit": unit},
            "order": order,
        }
    )


def table(result: FunnelResult) -> list[tuple[int, float, float | None]]:
    return [(s.users, s.conversion, s.median_seconds) for s in result.steps]


# --- the brute force: every chain, every assignment, straight from the definitions ----------


def _chains(events: Person, n: int, window: int, chain: list[int]):
    """Every ordered chain extending ``chain`` (event indices; chain[0] the entry)."""
    yield chain
    k = len(chain)
    if k == n:
        return
    t0, prev = events[chain[0]][0], events[chain[-1]][0]
    for e, (ts, mask) in enumerate(events):
        if e not in chain and mask >> k & 1 and prev <= ts <= t0 + window:
            yield from _chains(events, n, window, [*chain, e])


def brute_ordered(events: Person, n: int, window: int) -> tuple[int, tuple[int, ...]]:
    """Level, and the step timestamps of the earliest entry reaching it (earliest per step)."""
    chains = [
        c for e, (_, mask) in enumerate(events) if mask & 1 for c in _chains(events, n, window, [e])
    ]
    if not chains:
        return 0, ()
    level = max(len(c) for c in chains)
    longest = [tuple(events[e][0] for e in c) for c in chains if len(c) == level]
    first_entry = min(taus[0] for taus in longest)
    return level, min(taus for taus in longest if taus[0] == first_entry)


def _assign(events: Person, window: list[int], n: int, k: int, used: frozenset[int]) -> set:
    """Every set of events that fills some of steps k..n-1, one event per step."""
    if k == n:
        return {used}
    found = set(_assign(events, window, n, k + 1, used))
    for e in window:
        if e not in used and events[e][1] >> k & 1:
            found |= _assign(events, window, n, k + 1, used | {e})
    return found


def brute_any(events: Person, n: int, window: int) -> int:
    best = 0
    for entry, (t, mask) in enumerate(events):
        if not mask:
            continue
        inside = [e for e, (ts, _) in enumerate(events) if t <= ts <= t + window]
        for used in _assign(events, inside, n, 0, frozenset()):
            if entry in used:
                best = max(best, len(used))
    return best


def brute_funnel(q: FunnelQuery, persons: list[Person]) -> list[tuple[int, float, float | None]]:
    n, window = len(q.steps), q.window.seconds * S
    users = [0] * n
    gaps: list[list[int]] = [[] for _ in range(n)]
    for events in persons:
        if q.order == "any":
            level = brute_any(events, n, window)
        else:
            level, taus = brute_ordered(events, n, window)
            for k in range(1, level):
                gaps[k].append(taus[k] - taus[k - 1])
        for k in range(level):
            users[k] += 1
    rows = []
    for k in range(n):
        conversion = 0.0 if users[0] == 0 else users[k] / users[0]
        median = None
        if gaps[k]:
            ranked = sorted(gaps[k])
            median = ranked[(len(ranked) - 1) // 2] / S
        rows.append((users[k], conversion, median))
    return rows


# --- golden cases ---------------------------------------------------------------------------


def test_window_edge_is_inclusive_to_the_microsecond() -> None:
    q = query(["a", "b"], 1, "hour")
    on_edge = [(0, 0b01), (HOUR, 0b10)]
    past_edge = [(0, 0b01), (HOUR + 1, 0b10)]
    assert table(compute_funnel(q, [on_edge, past_edge])) == [(2, 1.0, None), (1, 0.5, 3600.0)]
    qa = query(["a", "b"], 1, "hour", order="any")
    assert table(compute_funnel(qa, [on_edge, past_edge])) == [(2, 1.0, None), (1, 0.5, None)]


def test_equal_timestamps_count_in_either_sequence_order() -> None:
    q = query(["a", "b"])
    for person in ([(5, 0b01), (5, 0b10)], [(5, 0b10), (5, 0b01)]):
        assert table(compute_funnel(q, [person])) == [(1, 1.0, None), (1, 1.0, 0.0)]


def test_a_step_before_the_entry_does_not_count() -> None:
    q = query(["a", "b"])
    assert table(compute_funnel(q, [[(4, 0b10), (5, 0b01)]])) == [(1, 1.0, None), (0, 0.0, None)]


def test_one_event_fills_one_step_only() -> None:
    q = query(["a", "a"])
    assert table(compute_funnel(q, [[(0, 0b11)]])) == [(1, 1.0, None), (0, 0.0, None)]
    assert table(compute_funnel(q, [[(0, 0b11), (0, 0b11)]])) == [(1, 1.0, None), (1, 1.0, 0.0)]
    q3 = query(["a", "a", "a"])
    two = [(0, 0b111), (7 * S, 0b111)]
    assert table(compute_funnel(q3, [two])) == [(1, 1.0, None), (1, 1.0, 7.0), (0, 0.0, None)]
    qa = query(["a", "a"], order="any")
    assert table(compute_funnel(qa, [[(0, 0b11)]])) == [(1, 1.0, None), (0, 0.0, None)]


def test_repeated_step_names() -> None:
    q = query(["view", "buy", "view"])
    after = [(0, 0b101), (10 * S, 0b010), (20 * S, 0b101)]
    before = [(0, 0b101), (5 * S, 0b101), (10 * S, 0b010)]
    assert table(compute_funnel(q, [after, before])) == [
        (2, 1.0, None),
        (2, 1.0, 10.0),  # both timed from their entry at 0 s, the earliest reaching their level
        (1, 0.5, 10.0),
    ]


def test_ties_are_matched_so_the_chain_goes_furthest() -> None:
    # At 9 s one event fits steps 1 and 2, another only step 1: step 1 takes the second.
    q = query(["a", "b", "c"])
    for at_nine in ([(9 * S, 0b110), (9 * S, 0b010)], [(9 * S, 0b010), (9 * S, 0b110)]):
        person = [(0, 0b001), *at_nine]
        assert table(compute_funnel(q, [person])) == [
            (1, 1.0, None),
            (1, 1.0, 9.0),
            (1, 1.0, 0.0),
        ]


def test_a_later_entry_can_reach_further_and_the_earliest_such_entry_is_timed() -> None:
    q = query(["a", "b", "c"], 1, "minute")
    person = [
        (0, 0b001),  # enters; b at 50 s, c past this entry's window
        (50 * S, 0b010),
        (55 * S, 0b001),  # enters again: b at 70 s, c at 90 s, both within its window
        (70 * S, 0b010),
        (80 * S, 0b001),  # reaches c too, but later than the entry at 55 s
        (90 * S, 0b100),
    ]
    assert table(compute_funnel(q, [person])) == [(1, 1.0, None), (1, 1.0, 15.0), (1, 1.0, 20.0)]


def test_median_is_the_lower_middle() -> None:
    q = query(["a", "b"])
    persons = [[(0, 0b01), (g * S, 0b10)] for g in (4, 1, 3, 2)]
    assert table(compute_funnel(q, persons))[1] == (4, 1.0, 2.0)
    assert table(compute_funnel(q, persons[1:3]))[1] == (2, 1.0, 1.0)
    assert table(compute_funnel(q, [[(0, 0b01), (1, 0b10)]]))[1] == (1, 1.0, 1e-06)


def test_nobody_entered() -> None:
    for order in ("ordered", "any"):
        q = query(["a", "b", "c"], order=order)
        expected = [(0, 0.0, None)] * 3
        assert table(compute_funnel(q, [])) == expected
        assert table(compute_funnel(q, [[], [(0, 0)]])) == expected
    q = query(["a", "b"])
    assert table(compute_funnel(q, [[(0, 0b10)]])) == [(0, 0.0, None), (0, 0.0, None)]


def test_any_order_matches_events_to_steps() -> None:
    q = query(["x", "y", "z"], 1, "day", order="any")
    overlapping = [(0, 0b011), (1, 0b001)]  # one fits x or y, the other x only: both count
    reversed_order = [(0, 0b100), (DAY, 0b001)]  # z then x, on the window's edge
    too_late = [(0, 0b100), (DAY + 1, 0b001)]
    assert table(compute_funnel(q, [overlapping, reversed_order, too_late])) == [
        (3, 1.0, None),
        (2, 2 / 3, None),
        (0, 0.0, None),
    ]


# --- against the brute force ----------------------------------------------------------------


@st.composite
def funnels(draw: st.DrawFn) -> tuple[FunnelQuery, list[Person]]:
    n = draw(st.integers(2, 4))
    unit = draw(st.sampled_from(["minute", "hour", "day"]))
    value = draw(st.integers(1, 3))
    order = draw(st.sampled_from(["ordered", "any"]))
    window = value * UNIT_US[unit]
    # Timestamps on half-window marks, a microsecond either side, to hit edges and ties.
    stamp = st.one_of(
        st.builds(
            lambda a, d: a * (window // 2) + d, st.integers(0, 4), st.sampled_from([-1, 0, 1])
        ),
        st.integers(0, 2 * window),
    )
    single = st.sampled_from([1 << k for k in range(n)])
    mask = st.one_of(single, single, st.integers(0, (1 << n) - 1))
    persons = draw(st.lists(st.lists(st.tuples(stamp, mask), max_size=6), max_size=5))
    for events in persons:
        events.sort(key=lambda e: e[0])  # stable: ties keep their drawn order
    return query([f"s{k}" for k in range(n)], value, unit, order), persons


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funnels())
def test_matches_the_brute_force(case: tuple[FunnelQuery, list[Person]]) -> None:
    q, persons = case
    assert table(compute_funnel(q, persons)) == brute_funnel(q, persons)


@settings(max_examples=60, deadline=None)
@given(funnels(), st.randoms(use_true_random=False))
def test_order_among_equal_timestamps_does_not_matter(
    case: tuple[FunnelQuery, list[Person]], rnd: random.Random
) -> None:
    q, persons = case
    shuffled = []
    for events in persons:
        events = list(events)
        rnd.shuffle(events)
        shuffled.append(sorted(events, key=lambda e: e[0]))
    assert table(compute_funnel(q, shuffled)) == table(compute_funnel(q, persons))


def test_many_events_of_several_steps_against_the_brute_force() -> None:
    # Longer people than hypothesis draws, with many entries: exercises the entry skipping.
    rnd = random.Random(7)
    for order in ("ordered", "any"):
        q = query(["a", "b", "c"], 10, "minute", order)
        persons = []
        for _ in range(40):
            events = sorted(
                (rnd.randrange(0, 40 * MIN), rnd.choice([1, 2, 4, 1, 2, 4, 3, 5, 6]))
                for _ in range(rnd.randrange(0, 9))
            )
            persons.append(events)
        assert table(compute_funnel(q, persons)) == brute_funnel(q, persons)


@pytest.mark.parametrize("order", ["ordered", "any"])
def test_ten_steps_all_reached(order: str) -> None:
    q = query([f"s{k}" for k in range(10)], 1, "day", order)
    person = [(k * S, 1 << k) for k in range(10)]
    rows = table(compute_funnel(q, [person]))
    assert [r[0] for r in rows] == [1] * 10
    if order == "ordered":
        assert [r[2] for r in rows] == [None] + [1.0] * 9


# --- the whole-array path (ordered, no event matching two steps) ----------------------------


def _arrays(
    persons: list[Person], numbers: list[int], grouped: bool = False
) -> tuple[np.ndarray, ...]:
    """Persons' events as flat arrays (person number, µs, mask), rows in a shuffled order;
    ``grouped``: each mask's rows together, as event times come (a run per step)."""
    rows = [
        (number, ts, mask)
        for number, events in zip(numbers, persons, strict=True)
        for ts, mask in events
        if mask
    ]
    random.Random(len(rows)).shuffle(rows)
    if grouped:
        rows.sort(key=lambda row: row[2])
    pids = np.array([r[0] for r in rows], dtype=np.uint32)
    micros = np.array([r[1] for r in rows], dtype=np.int64)
    masks = np.array([r[2] for r in rows], dtype=np.int64)
    return pids, micros, masks


@st.composite
def single_step_funnels(draw: st.DrawFn) -> tuple[FunnelQuery, list[Person], list[int]]:
    q, persons = draw(funnels())
    n = len(q.steps)
    persons = [
        sorted((ts, 1 << draw(st.integers(0, n - 1))) for ts, _ in events) for events in persons
    ]
    # Person numbers sparse or dense, as a store's are after merges and erasures.
    numbers = draw(
        st.lists(
            st.integers(0, 2**32 - 1), min_size=len(persons), max_size=len(persons), unique=True
        )
        | st.just(list(range(len(persons))))
    )
    return q, persons, numbers


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(single_step_funnels())
def test_whole_arrays_match_the_brute_force(case: tuple[FunnelQuery, list[Person], list[int]]):
    q, persons, numbers = case
    result = array_funnel(q, *_arrays(persons, numbers))
    assert result is not None
    assert table(result) == brute_funnel(q, persons)
    assert table(result) == table(compute_funnel(q, persons))
    grouped = array_funnel(q, *_arrays(persons, numbers, grouped=True))
    assert grouped is not None
    assert table(grouped) == table(result)


@pytest.mark.parametrize("key_bits", [62, 24])  # 24: times too wide for offsets, ranked
def test_whole_arrays_against_the_per_person_algorithm_at_size(
    key_bits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_funnel_arrays, "_KEY_BITS", key_bits)
    # Many persons with many entries, ties and window ends: the same figures either way.
    rnd = random.Random(11)
    persons = [
        sorted(
            (rnd.randrange(0, 60 * MIN, MIN // 2), 1 << rnd.randrange(4))
            for _ in range(rnd.randrange(0, 30))
        )
        for _ in range(2000)
    ]
    for order in ("ordered", "any"):
        q = query(["a", "b", "c", "d"], 10, "minute", order)
        result = array_funnel(q, *_arrays(persons, list(range(0, 6000, 3))))
        assert result is not None
        assert table(result) == table(compute_funnel(q, persons))
        assert result.steps[3].users > 0


def test_whole_arrays_leave_events_of_several_steps_to_the_per_person_algorithm() -> None:
    pids, micros = np.array([1, 1], dtype=np.uint32), np.array([0, 5], dtype=np.int64)
    for order in ("ordered", "any"):
        q = query(["a", "b"], order=order)
        assert array_funnel(q, pids, micros, np.array([0b11, 0b10])) is None
        assert array_funnel(q, pids, micros, np.array([0b01, 0b10])) is not None


def test_times_too_wide_for_offsets_are_ranked() -> None:
    micros = np.array([10**15, 5, 10**15, 7], dtype=np.int64)
    offsets = _times(micros, 60, 5, 10**15 - 5)
    assert offsets is not None
    assert offsets[0].tolist() == [10**15 - 5, 0, 10**15 - 5, 2]
    assert offsets[1] is None
    ranks = _times(micros, 4, 5, 10**15 - 5)
    assert ranks is not None
    assert ranks[0].tolist() == [2, 0, 2, 1]
    assert ranks[1] is not None
    assert ranks[1].tolist() == [5, 7, 10**15]
    wide = np.arange(40, dtype=np.int64) * 10**12
    assert _times(wide, 4, 0, 39 * 10**12) is None
