"""The fault drills' figures, printed after the test run (``pytest tests/drills``)."""

from __future__ import annotations

import pytest

from ._drill import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault drills")
        for figures in FIGURES:
            terminalreporter.write_line(figures.line())
