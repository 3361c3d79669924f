"""Hands each fault drill's figures to the run's summary (printed by tests/conftest.py).

A drill files its figures in the process that ran it; they travel as the report's
``user_properties`` (``("drill", line)``), which reach the main process under ``pytest -n``
(xdist) as well as without it.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from ._drill import FIGURES


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown":
        while FIGURES:  # what this test's drill filed, handed on once
            report.user_properties.append(("drill", FIGURES.pop(0).line()))
