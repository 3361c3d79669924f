"""``evana persons``: one person, with every id linked to it and its properties (a read key)."""

from __future__ import annotations

from typing import Annotated

import typer

from ._output import Format
from ._remote import ApiKeyOption, UrlOption, explained, remote
from ._stats import FormatOption

__all__ = ["persons_app"]

persons_app = typer.Typer(
    help="Persons: distinct ids linked by identify and alias (needs a read key).",
    no_args_is_help=True,
)


@persons_app.command("show")
def show(
    distinct_id: Annotated[
        str, typer.Argument(metavar="ID", help="Any of the person's distinct ids (a user_id)")
    ],
    output: FormatOption = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a person: linked ids, first and last seen, merged properties.

    Example: evana persons show u_42 --format json
    """
    from evana.client import RetryPolicy

    from ._insight_reports import print_insight

    target = remote(url, api_key, "read")
    with target.client(retry=RetryPolicy(base_delay=0.2, max_delay=0.5, budget=1)) as client:
        with explained(target):
            person = client.persons.get(distinct_id)
    print_insight(person, output)
