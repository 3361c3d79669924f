"""The ``evana`` command (``pip install 'evana[cli]'``)."""

from __future__ import annotations

import sys

__all__ = ["main"]

# What `pip install 'evana[cli]'` adds (typer vendors click; pydantic-settings reads EVANA_*).
_CLI_EXTRA = frozenset({"typer", "rich", "click", "pydantic_settings", "shellingham"})


def main() -> None:
    """Entry point of the ``evana`` console script."""
    try:
        from ._app import app
    except ImportError as exc:  # the CLI extra is missing: say how to get it, no traceback
        if (exc.name or "").split(".")[0] not in _CLI_EXTRA:
            raise  # a bug, not a missing package: show it
        # Plain print: Rich may be the very package that is missing.
        print(  # noqa: T201
            f"evana: the command line needs extra packages ({exc.name} is missing):"
            " pip install 'evana[cli]'  (or 'evana[all]' to run the server too)",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    app()
