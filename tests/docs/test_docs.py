"""The documentation runs: its Python blocks against a real server, its generated pages build.

Every fenced ``python`` block of every page in docs/ runs in a fresh interpreter, in page order,
against one ``evana serve`` per page (``EVANA_URL`` and ``EVANA_API_KEY`` set to it and its admin
key). A block preceded by ``<!-- docs-test: skip (reason) -->`` is left out (it needs Django,
Celery, ...), and a block that only includes a file (``--8<--``) is that file's test's business.
The quickstart's shell commands run in CI (docs/scripts/run_quickstart.py), in a fresh venv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._evana import ServerProcess, evana_serve

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^(<!-- docs-test: skip[^>]*-->\n)?```python[^\n]*\n(.*?)^```", re.M | re.S)

sys.path.insert(0, str(DOCS / "scripts"))


def python_blocks(page: Path) -> list[str]:
    """The page's runnable Python blocks, in order."""
    return [
        code
        for skip, code in _FENCE.findall(page.read_text())
        if not skip and not code.lstrip().startswith("--8<--")
    ]


PAGES = sorted(p for p in DOCS.glob("**/*.md") if python_blocks(p))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with evana_serve(tmp_path) as running:
        yield running


def test_the_pages_have_python_to_run() -> None:
    names = {page.name for page in PAGES}
    assert {"index.md", "concepts.md", "sdk.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_python_block_runs(page: Path, server: ServerProcess, tmp_path: Path) -> None:
    assert server.admin_key is not None
    env = {**os.environ, "EVANA_URL": server.url, "EVANA_API_KEY": server.admin_key}
    for number, code in enumerate(python_blocks(page), start=1):
        script = tmp_path / f"block_{number}.py"
        script.write_text(code)
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, f"{page.name}, block {number}:\n{code}\n{done.stderr}"


def test_the_cli_reference_has_every_command() -> None:
    import typer.main
    from cli_reference import cli_reference, walk

    from evana.cli._app import app

    page = cli_reference()
    root = typer.main.get_command(app)
    paths = [ctx.command_path for _, ctx in walk(root, root.context_class(root, info_name="evana"))]
    assert len(paths) > 10
    for path in paths:
        assert f"`{path}`" in page, path


def test_the_http_reference_measures_each_routes_scope() -> None:
    from http_reference import measured_scopes, openapi_schema

    scopes = measured_scopes(openapi_schema())
    assert scopes[("post", "/v1/events")] == "ingest"
    assert scopes[("get", "/v1/stats/retention")] == "read"
    assert ("get", "/healthz") not in scopes


def test_every_setting_is_documented() -> None:
    from settings_reference import settings_reference

    from evana._settings import Settings

    page = settings_reference()
    for name in Settings.model_fields:
        assert f"`EVANA_{name.upper()}`" in page


def test_the_quickstart_checker_matches_loosely_but_in_order() -> None:
    from run_quickstart import blocks, check_output

    page = blocks()
    assert {"terminal 1", "terminal 1 output", "terminal 2", "terminal 2 output"} <= set(page)
    check_output("a …\nTop, 2026-11-24", "x\na b c\nTop, 2031-01-02   \n", "t")
    with pytest.raises(AssertionError):
        check_output("second\nfirst", "first\nsecond\n", "t")
