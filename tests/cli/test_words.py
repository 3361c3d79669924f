"""Counts in the CLI's sentences agree with their number: "1 event", never "1 events"."""

from __future__ import annotations

import pytest

from evana.cli._words import counted


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "event", "0 events"),
        (1, "event", "1 event"),
        (2, "event", "2 events"),
        (1, "line", "1 line"),
        (12_345, "line", "12,345 lines"),
        (1, "dead letter", "1 dead letter"),
        (2, "entry", "2 entries"),
    ],
)
def test_counted(count: int, noun: str, expected: str) -> None:
    plural = "entries" if noun == "entry" else None
    assert counted(count, noun, plural) == expected
