"""The bounded queue: limits by count and bytes, dedup with bounded memory, requeue order."""

from __future__ import annotations

from evana.client._queue import EventQueue, Put


def queue(**limits: int) -> EventQueue:
    options = {"max_size": 100, "flush_at": 10, "max_batch_bytes": 10_000, "dedup_window": 1000}
    return EventQueue(**{**options, **limits})


def test_dedup_forgets_the_oldest_id_beyond_its_window() -> None:
    q = queue(dedup_window=3)
    for key in (1, 2, 3, 4):
        assert q.put(key, b"{}") is Put.QUEUED
    assert q.remembered() == 3
    assert q.put(4, b"{}") is Put.DUPLICATE
    assert q.put(1, b"{}") is Put.QUEUED  # the oldest went first


def test_dedup_memory_stays_bounded_under_a_long_stream() -> None:
    q = queue(max_size=10**6, flush_at=5000, dedup_window=500)
    for key in range(100_000):
        q.put(key, b"")
    assert q.remembered() == 500
    assert len(q._order) == 500
    assert q.put(99_999, b"") is Put.DUPLICATE
    assert q.put(99_499, b"") is not Put.DUPLICATE  # forgotten, queued again


def test_a_window_of_zero_turns_dedup_off() -> None:
    q = queue(dedup_window=0)
    assert q.put(1, b"{}") is Put.QUEUED
    assert q.put(1, b"{}") is Put.QUEUED


def test_put_reports_duplicates_full_and_a_ready_batch_by_count() -> None:
    q = queue(max_size=3, flush_at=2)
    assert q.put(1, b"{}") is Put.QUEUED
    assert q.put(1, b"{}") is Put.DUPLICATE
    assert q.put(2, b"{}") is Put.READY
    assert q.put(3, b"{}") is Put.READY
    assert q.put(4, b"{}") is Put.FULL
    assert q.put(2, b"{}") is Put.DUPLICATE  # a queued id, even when full
    assert len(q) == 3
    assert q.accepted == 3


def test_a_batch_is_ready_by_bytes_and_taken_within_the_byte_budget() -> None:
    q = queue(flush_at=100, max_batch_bytes=100)
    for key in range(4):
        put = q.put(key, b"x" * 30)
    assert put is Put.READY  # 4 * 31 bytes >= 100
    first = q.take()
    assert [key for key, _ in first] == [0, 1, 2]  # 3 * 31 = 93 <= 100 < 124
    assert q.pending == 4
    assert [key for key, _ in q.take()] == [3]


def test_an_event_bigger_than_the_budget_still_goes_alone() -> None:
    q = queue(max_batch_bytes=50)
    q.put(1, b"x" * 80)
    q.put(2, b"y")
    assert [key for key, _ in q.take()] == [1]
    assert [key for key, _ in q.take()] == [2]


def test_take_respects_flush_at_and_pending_counts_the_batch_until_done() -> None:
    q = queue(flush_at=3)
    for key in range(7):
        q.put(key, b"{}")
    batch = q.take()
    assert len(batch) == 3
    assert q.pending == 7
    q.done(batch)
    assert q.pending == 4


def test_failed_ids_may_be_tracked_again_but_delivered_ones_may_not() -> None:
    q = queue()
    q.put(1, b"{}")
    q.put(2, b"{}")
    batch = q.take()
    q.done(batch[:1])
    q.done(batch[1:], forget=True)
    assert q.put(1, b"{}") is Put.DUPLICATE
    assert q.put(2, b"{}") is Put.QUEUED


def test_requeue_puts_a_batch_back_at_the_head_in_order() -> None:
    q = queue(flush_at=2)
    for key in range(5):
        q.put(key, b"{}")
    batch = q.take()
    q.requeue(batch)
    assert q.pending == 5
    assert [key for key, _ in q.take()] == [0, 1]
    assert [key for key, _ in q.clear()] == [2, 3, 4]
    assert q.pending == 2
