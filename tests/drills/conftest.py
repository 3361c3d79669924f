"""The fault drills' figures, printed after the test run (``pytest tests/drills``).

A drill files its figures in its own process; they travel to the process that prints the summary
as the report's ``user_properties``, so the summary is the same with ``pytest -n`` (xdist).
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from ._drill import FIGURES

_LINES: list[str] = []
_SENT = [0]  # how many of FIGURES this process has attached to a report already


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown":
        for figures in FIGURES[_SENT[0] :]:
            report.user_properties.append(("drill", figures.line()))
        _SENT[0] = len(FIGURES)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _LINES.extend(str(value) for name, value in report.user_properties if name == "drill")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("fault drills")
        for line in _LINES:
            terminalreporter.write_line(line)
