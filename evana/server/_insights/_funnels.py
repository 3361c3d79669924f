"""Funnel glue: each person's events in [since, until] as (µs timestamp, step mask), in order.

The counting itself (:func:`compute_funnel`, in ``_funnel``) is a pure function of these
sequences; this module only selects, tags and groups the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from evana.insights import FunnelQuery, FunnelResult

from ._frame import Frame
from ._funnel import compute_funnel
from ._funnel_arrays import array_funnel
from ._values import PERSON_PREFIX

__all__ = ["funnel_columns", "person_sequences", "run_funnel"]

Sequences = Iterable[Sequence[tuple[int, int]]]


def funnel_columns(query: FunnelQuery) -> tuple[list[str], bool]:
    """Which event names to load and whether event properties are read."""
    names = sorted({step.event for step in query.steps})
    reads = any(not f.key.startswith(PERSON_PREFIX) for step in query.steps for f in step.where)
    return names, reads


def person_sequences(query: FunnelQuery, frame: Frame) -> Iterator[list[tuple[int, int]]]:
    """Per person (by person number), its events that match some step, sorted by timestamp:
    ``(timestamp in µs, mask)`` where bit k is set when the event matches step k.

    Events of several ids of one person interleave by time, as one person's would.

    >>> from evana.server._storage import EventRows, PersonMap
    >>> rows = EventRows(
    ...     uids=np.array([2, 1, 3], dtype=np.uint32), micros=np.array([30, 10, 20]),
    ...     codes=np.array([1, 0, 2], dtype=np.int32), names=["signup", "buy", "view"],
    ...     properties=None)
    >>> query = FunnelQuery.model_validate({"since": "2026-11-02", "until": "2026-11-02",
    ...     "steps": [{"event": "signup"}, {"event": "buy"}]})
    >>> list(person_sequences(query, Frame(rows, PersonMap({2: 1}))))
    [[(10, 1), (30, 2)]]
    """
    pids, micros, masks = _tagged(query, frame)
    yield from _sequences(pids, micros, masks)


def _tagged(query: FunnelQuery, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The events that match some step: person numbers, µs timestamps and step masks."""
    if any(step.where for step in query.steps):
        masks = np.zeros(len(frame), dtype=np.int64)
        for k, step in enumerate(query.steps):
            masks |= frame.select(step.event, step.where).astype(np.int64) << k
    else:
        # Steps by name alone: each event name's mask, looked up by its code in one pass.
        by_code = np.zeros(len(frame.rows.names), dtype=np.int64)
        for k, step in enumerate(query.steps):
            if (code := frame.rows.code_of(step.event)) >= 0:
                by_code[code] |= 1 << k
        masks = by_code[frame.rows.codes]
        if by_code.all():  # every row is some step's (event times read only the steps')
            return frame.pids, frame.rows.micros, masks
    keep = np.flatnonzero(masks)
    return frame.pids[keep], frame.rows.micros[keep], masks[keep]


def _sequences(
    pids: np.ndarray, micros: np.ndarray, masks: np.ndarray
) -> Iterator[list[tuple[int, int]]]:
    if not len(pids):
        return
    order = np.lexsort((masks, micros, pids))  # by person, then time; the mask only fixes ties
    pids, micros, masks = pids[order], micros[order], masks[order]
    cuts = np.flatnonzero(np.diff(pids)) + 1
    for stamps, bits in zip(np.split(micros, cuts), np.split(masks, cuts), strict=True):
        yield list(zip(stamps.tolist(), bits.tolist(), strict=True))


def run_funnel(query: FunnelQuery, frame: Frame) -> FunnelResult:
    """The funnel of the loaded events (of ``funnel_columns(query)``, over [since, until]):
    in whole-array steps where no event matches two steps, else person by person."""
    pids, micros, masks = _tagged(query, frame)
    fast = array_funnel(query, pids, micros, masks)
    if fast is not None:
        return fast
    return compute_funnel(query, _sequences(pids, micros, masks))
