"""The multiset of a number summary: merged in any split and read back from its stored bytes, it
gives the raw path's nearest-rank percentiles; an integer float64 would round makes it unknown."""

from __future__ import annotations

import itertools
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evana.server._storage._multiset import EXACT_INT, Multiset
from evana.server._storage._numbers import Summary

numbers = st.lists(
    st.integers(-EXACT_INT, EXACT_INT)
    | st.sampled_from([0, 5, 5.0, -5, -5.0, 0.0, -0.0, 2.5, 1e300, -1e-300, EXACT_INT])
    | st.floats(allow_nan=False, allow_infinity=False),
    max_size=40,
)


def _nearest_rank(values: list[int | float], p: int) -> int | float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered) / 100), 1) - 1]


def _bag(values: list[int | float]) -> Multiset:
    out = Multiset()
    for value in values:
        out.add(value)
    return out


@given(values=numbers, cuts=st.lists(st.integers(0, 40), max_size=4), data=st.data())
def test_percentiles_of_merged_and_stored_parts_are_the_raw_ones(
    values: list[int | float], cuts: list[int], data: st.DataObject
) -> None:
    bounds = [0, *sorted(cuts), len(values)]
    merged = Multiset()
    for start, end in itertools.pairwise(bounds):
        part = _bag(values[start:end])
        stored = data.draw(st.booleans(), "stored")
        merged.merge(Multiset.from_bytes(part.to_bytes()) if stored else part)
    again = Multiset.from_bytes(merged.to_bytes())
    assert again.to_bytes() == merged.to_bytes()
    for p in (1, 50, 90, 95, 99, 100):
        for bag in (merged, again):
            got, want = bag.percentile(p), _nearest_rank(values, p) if values else None
            assert got == want
            # An int and an equal float tie in the raw path's order: either is right there.
            if not any(v == got and type(v) is not type(got) for v in values):
                assert type(got) is type(want)


def test_items_count_each_number_once_by_type() -> None:
    bag = _bag([5, 5.0, 5, -1.5, 0])
    other = _bag([5.0, 2**53, -1.5])
    bag.merge(Multiset.from_bytes(other.to_bytes()))
    assert bag.items() == [(-1.5, 2), (0, 1), (5.0, 2), (5, 2), (2**53, 1)]
    assert [type(n) for n, _ in bag.items()] == [float, int, float, int, int]
    assert Multiset().items() == []
    assert Multiset().percentile(50) is None
    assert Multiset.from_bytes(Multiset().to_bytes()).items() == []


def test_the_stored_bytes_follow_the_documented_layout() -> None:
    data = _bag([7, 2.5, 7, 7]).to_bytes()
    assert data == struct.pack("<ddII", 2.5, 7.0, 1 * 2, 3 * 2 + 1) + bytes([4])
    assert len(data) == 12 * 2 + 1
    # Counts past 31 bits take 8-byte words.
    wide = struct.pack("<ddQQ", -1.0, 3.0, 2**40 * 2 + 1, 1 * 2) + bytes([8])
    bag = Multiset.from_bytes(wide)
    assert bag.items() == [(-1, 2**40), (3.0, 1)]
    assert bag.percentile(99) == -1
    assert bag.to_bytes() == wide
    with pytest.raises(ValueError, match="not a stored multiset"):
        Multiset.from_bytes(wide[:-2] + bytes([8]))


def test_a_summary_with_an_integer_past_float64_knows_no_percentile() -> None:
    exact = Summary()
    for value in (3, 1.5, -EXACT_INT):
        exact.add(value)
    assert exact.knows("p90")
    assert exact.math("median") == 1.5
    assert exact.math("p99") == 3
    huge = Summary()
    huge.add(EXACT_INT + 1)
    assert huge.values is None
    assert not huge.knows("median")
    assert huge.knows("sum")
    assert huge.math("max") == EXACT_INT + 1
    exact.merge(huge)
    assert exact.values is None
    assert exact.count == 4
    assert exact.math("sum") == math.fsum([3, 1.5, -EXACT_INT, EXACT_INT + 1])  # as raw
    later = Summary()
    later.merge(exact)
    later.add(1)
    assert later.values is None


def test_a_copy_shares_stored_parts_and_leaves_the_cached_one_as_it_was() -> None:
    cached = Multiset.from_bytes(_bag([1, 2, 3, 4]).to_bytes())
    assert cached.percentile(50) == 2  # its running counts are made and kept
    copy = cached.copy()
    for value in (10, 10, 10, 10):
        copy.add(value)
    merged = Multiset()
    merged.merge(copy)
    merged.merge(cached)
    assert (copy.percentile(50), copy.percentile(100)) == (4, 10)
    assert (cached.percentile(50), cached.percentile(100)) == (2, 4)
    assert merged.percentile(50) == 3
    assert cached.nbytes == 3 * 8 * 4
