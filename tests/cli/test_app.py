"""The ``evana`` command as a whole: help with an example everywhere, version, completion, speed."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from evana._version import __version__
from evana.cli._app import app
from tests._evana import run_evana

from .conftest import invoke


def _leaves(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    children = getattr(command, "commands", None)
    if not children:
        yield path
        return
    for name, child in children.items():
        yield from _leaves(child, (*path, name))


COMMANDS = list(_leaves(typer.main.get_command(app)))


def test_every_command_group_is_wired() -> None:
    assert {path[0] for path in COMMANDS} == {
        "serve",
        "worker",
        "ingest",
        "demo",
        "dlq",
        "stats",
        "keys",
        "db",
        "users",
        "status",
        "trends",
        "funnel",
        "persons",
    }
    assert {path[1] for path in COMMANDS if path[0] == "stats"} == {
        "dau",
        "wau",
        "mau",
        "top",
        "retention",
        "stickiness",
        "lifecycle",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(runner: CliRunner, path: tuple[str, ...]) -> None:
    result = invoke(runner, [*path, "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "Example:" in text
    assert f"evana {' '.join(path)}" in text.split("Example:", 1)[1]


def test_version_and_completion(runner: CliRunner) -> None:
    assert invoke(runner, ["--version"]).stdout == f"evana {__version__}\n"
    assert "--install-completion" in invoke(runner, ["--help"]).stdout
    # What a shell asks when the user presses Tab after `evana stats retention --per`.
    env = {"_EVANA_COMPLETE": "complete_bash", "COMP_WORDS": "evana stats retention --per"}
    completed = run_evana(env={**env, "COMP_CWORD": "3"})
    assert completed.stdout.split() == ["--period", "--periods"]
    words = {"_EVANA_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "evana stats re"}
    assert "retention" in run_evana(env=words).stdout


def test_the_command_line_imports_no_server_stack_until_a_command_needs_it() -> None:
    # `evana --help` must be instant: the server's and the network's packages load inside the
    # commands that use them. A fresh interpreter, since this test session imported them all.
    code = (
        "import sys, evana.cli._app; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    heavy = {
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "nats",
        "httpx",
        "httpcore",
        "numpy",
        "pyroaring",
        "psycopg",
    }
    assert loaded & heavy == set()
    assert {"typer", "rich", "evana"} <= loaded


def test_the_examples_in_the_docstrings_run() -> None:
    import evana.cli

    names = sorted(p.stem for p in Path(evana.cli.__file__).parent.glob("_*.py"))
    attempted = 0
    for name in names:
        module = importlib.import_module(f"evana.cli.{name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 30
