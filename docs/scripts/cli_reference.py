"""The CLI reference page, rendered from the ``evana`` Typer app itself, so it never drifts.

It walks the command tree Typer builds (``typer.main.get_command``) and writes, for each command,
its usage line, its docstring and a table of its arguments and options, with the same help text
``evana COMMAND --help`` is built from. A command added to ``evana/cli/_app.py`` appears here at
the next ``mkdocs build``, with no edit to the docs.

    python docs/scripts/cli_reference.py > /tmp/cli.md     # the page, on stdout
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["cli_reference", "walk"]

# Typer's own completion options are the same for every Typer app and say nothing about evana.
_SKIPPED_OPTIONS = {"--install-completion", "--show-completion"}

_INTRO = """\
# CLI reference

Every command of `evana`, generated from the command definitions in `evana/cli/` each time the
site is built (see `docs/scripts/cli_reference.py`). `evana COMMAND --help` prints the same text
in a terminal.

The `evana` command needs the `cli` extra (`pip install 'evana[cli]'`); commands that run or
reach into the server (such as `serve`, `worker`, `keys`, `db`) also need the `server` extra, and
say so in one line when it is missing. `pip install 'evana[all]'` is the simple choice. Settings
not given as options come from `EVANA_*` environment variables (see
[Configuration](configuration.md)).

Errors are printed as one line, `evana: error: …`, with a non-zero exit code; set `EVANA_DEBUG=1`
to see the traceback of an unexpected error.
"""


def walk(command: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    """Yield ``(command, context)`` for ``command`` and every subcommand, depth first."""
    yield command, ctx
    if not hasattr(command, "list_commands"):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_ctx = sub.context_class(sub, info_name=name, parent=ctx, **sub.context_settings)
        yield from walk(sub, sub_ctx)


def _docstring(text: str | None) -> str:
    """A command's docstring as Markdown: its ``Example:`` lines become console blocks."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", (text or "").strip()):
        paragraph = " ".join(line.strip() for line in paragraph.splitlines())
        if paragraph.startswith("Example: "):
            out.append("```console\n$ " + paragraph.removeprefix("Example: ") + "\n```")
        elif paragraph:
            out.append(_escape(paragraph))
    return "\n\n".join(out)


def _escape(text: str) -> str:
    """Keep Markdown from reading ``<input>``, ``*`` or ``|`` in help text as markup."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")


def _params_table(command: Any, ctx: Any) -> str:
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        if names in _SKIPPED_OPTIONS:
            continue
        kind = "argument" if param.param_type_name == "argument" else "option"
        help_text = " ".join(help_text.split())
        rows.append(f"| `{names.replace('|', '&#124;')}` | {kind} | {_escape(help_text)} |")
    if not rows:
        return ""
    return "| name | kind | description |\n| --- | --- | --- |\n" + "\n".join(rows)


def _section(command: Any, ctx: Any) -> str:
    depth = ctx.command_path.count(" ")
    heading = "#" * min(depth + 2, 4)
    parts = [f"{heading} `{ctx.command_path}`", _docstring(command.help)]
    usage = command.get_usage(ctx).removeprefix("Usage: ")
    parts.append(f"```text\n{usage}\n```")
    table = _params_table(command, ctx)
    if table:
        parts.append(table)
    if hasattr(command, "list_commands"):
        subs = [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]
        lines = [
            f"- [`{ctx.command_path} {name}`](#{_anchor(ctx.command_path + ' ' + name)}):"
            f" {_escape(sub.get_short_help_str(200))}"
            for name, sub in subs
            if sub is not None and not getattr(sub, "hidden", False)
        ]
        parts.append("Commands:\n\n" + "\n".join(lines))
    return "\n\n".join(p for p in parts if p)


def _anchor(path: str) -> str:
    # mkdocs' default slugify of a heading such as "`evana keys create`".
    return re.sub(r"[\s]+", "-", path.strip().lower())


def cli_reference() -> str:
    """The whole page, as Markdown."""
    import typer.main

    from evana.cli._app import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="evana", **root.context_settings)
    sections = [_section(command, c) for command, c in walk(root, ctx)]
    return _INTRO + "\n" + "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    sys.stdout.write(cli_reference())
