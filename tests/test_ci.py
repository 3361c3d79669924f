"""CI installs pinned versions: every ``pip install`` of ``.ci/run`` and ``.ci/smoke_wheel.py``
takes ``constraints.txt``, and that file pins every dependency ``pyproject.toml`` declares (a
dependency added without rerunning ``.ci/lock`` fails here, naming it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """The normalized project name of a requirement (``uvicorn[standard]>=0.30`` → uvicorn)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not a pin: {line!r}"
            pins[_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    names = {_name(r) for r in declared} - {"evana"}
    missing = sorted(names - set(_pins()))
    assert not missing, f"not in constraints.txt: {missing}; run .ci/lock"


def test_every_install_in_ci_takes_the_constraints() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    installs = [line for line in script.splitlines() if re.search(r"\bpip install\b", line)]
    assert len(installs) >= 3
    for line in installs:
        # The last one is the README's test command, which names the file itself.
        assert '"${pin[@]}"' in line or "-c constraints.txt" in line, line
    assert "pin=(-c constraints.txt)" in script
    smoke = (ROOT / ".ci" / "smoke_wheel.py").read_text()
    pip_runs = [line for line in smoke.splitlines() if '"pip", "install"' in line]
    assert pip_runs
    assert all('"-c", CONSTRAINTS' in line for line in pip_runs), pip_runs
    assert '"PIP_CONSTRAINT": pinned' in smoke  # the quickstart's own pip commands


def test_the_lock_command_regenerates_the_file() -> None:
    lock = (ROOT / ".ci" / "lock").read_text()
    assert "freeze --all --exclude-editable" in lock
    assert "> constraints.txt" in lock
    header = (ROOT / "constraints.txt").read_text().splitlines()[:2]
    assert any(".ci/lock" in line for line in header)
