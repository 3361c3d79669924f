"""``evana status``: the server's parts as it sees them (``GET /v1/status``, an admin key).

The database, the queue, whether a worker consumes (production), the messages waiting for one
and the dead-letter entries, in one screen; ``--format json`` for scripts. The exit status is 0
while the server is ready with nothing waiting on a missing worker, 1 otherwise, so a cron job
or a deploy script can use it as a check.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from evana.errors import TransportError, error_for_status
from evana.schema import ErrorBody

from ._output import Format, console, print_csv, print_json
from ._remote import ApiKeyOption, Remote, UrlOption, explained, remote

__all__ = ["status"]

_FIELDS = ("status", "mode", "database", "queue", "workers", "pending", "unacked", "dead_letters")
_LABELS = {
    "pending": "pending messages",
    "unacked": "unacknowledged",
    "dead_letters": "dead letters",
}


def status(
    output: Annotated[
        Format, typer.Option("--format", "-f", help="table, json or csv")
    ] = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show the database, the queue, the workers, what waits for them and the dead letters.

    Exits 1 unless the server is ready and no event waits for a missing worker.

    Example: evana status --format json
    """
    target = remote(url, api_key, "admin")
    with explained(target):
        found = _fetch(target)
    if output is Format.json:
        print_json(found)
    elif output is Format.csv:
        print_csv(["part", "state"], [[name, found.get(name)] for name in _FIELDS])
    else:
        _table(target.url, found)
    if found.get("status") != "ready":
        raise typer.Exit(1)


def _fetch(target: Remote) -> dict[str, Any]:
    import httpx

    try:
        with httpx.Client(base_url=target.url, timeout=30.0) as client:
            answer = client.get("/v1/status", headers={"X-API-Key": target.api_key})
    except httpx.HTTPError as exc:
        raise TransportError(f"GET /v1/status: {type(exc).__name__}: {exc}") from None
    if answer.status_code >= 400:
        error: str | None
        detail: Any
        try:
            body = ErrorBody.model_validate_json(answer.content)
            error, detail = body.error, body.detail
        except ValueError:
            error, detail = None, answer.text[:500] or None
        raise error_for_status(answer.status_code, error, detail)
    found: dict[str, Any] = answer.json()
    return found


def _table(url: str, found: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"evana at {url}", show_header=False, title_justify="left")
    table.add_column("part", style="bold")
    table.add_column("state", overflow="fold")
    for name in _FIELDS:
        value = found.get(name)
        if value is None:
            continue  # not part of this mode (embedded has no workers nor dead letters)
        text = f"{value:,}" if isinstance(value, int) else str(value)
        style = "" if value in ("ok", "ready") or isinstance(value, int) else "yellow"
        table.add_row(_LABELS.get(name, name), Text(text, style=style))  # no markup in values
    console.print(table)
