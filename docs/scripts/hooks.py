"""mkdocs hooks: add the generated pages (CLI, HTTP API, configuration, benchmarks) to the site.

The pages are made in memory at every build from the code itself, so they cannot drift from it
and nothing generated is committed. ``mkdocs.yml`` loads this file under ``hooks:``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks import benchmarks_page
from cli_reference import cli_reference
from http_reference import http_reference
from settings_reference import settings_reference

#: Each generated page: its path in the site, and what writes it.
GENERATED: dict[str, Callable[[], str]] = {
    "reference/cli.md": cli_reference,
    "reference/http-api.md": http_reference,
    "reference/configuration.md": settings_reference,
    "benchmarks.md": benchmarks_page,
}


def on_files(files: Any, config: Any) -> Any:
    """Add every generated page to the site's files."""
    from mkdocs.structure.files import File

    for path, render in GENERATED.items():
        files.append(File.generated(config, path, content=render()))
    return files


def on_serve(server: Any, config: Any, **_: Any) -> Any:
    """``mkdocs serve``: rebuild when the code the pages come from changes."""
    root = Path(config["config_file_path"]).parent
    for watched in ("evana/cli", "evana/server", "evana/_settings.py", "bench/results"):
        server.watch(str(root / watched))
    return server
