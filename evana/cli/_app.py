"""The ``evana`` command: wiring only; each command group lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from evana._version import __version__

from ._db import db_app
from ._demo import demo
from ._dlq import dlq_app
from ._errors import EvanaGroup
from ._funnel import funnel
from ._ingest import ingest
from ._keys import keys_app
from ._persons import persons_app
from ._serve import serve
from ._stats import stats_app
from ._status import status
from ._trends import trends
from ._users import users_app
from ._worker import worker

__all__ = ["app"]

app = typer.Typer(
    name="evana",
    cls=EvanaGroup,
    help="evana: send events, get exact DAU/WAU/MAU, top events, retention, trends and funnels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"evana {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    _version_flag: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """evana: send events, get exact DAU/WAU/MAU, top events, retention, trends and funnels."""


app.command("serve")(serve)
app.command("worker")(worker)
app.command("ingest")(ingest)
app.command("demo")(demo)
app.command("status")(status)
app.command("trends")(trends)
app.command("funnel")(funnel)
app.add_typer(dlq_app, name="dlq")
app.add_typer(stats_app, name="stats")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(persons_app, name="persons")
