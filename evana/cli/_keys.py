"""``evana keys``: create, list and revoke API keys in the configured database."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import typer
from rich.table import Table

from ._config import load_settings
from ._output import Format, console, print_csv, print_json
from ._server_deps import server

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Manage API keys (in the database of EVANA_DATABASE_URL).")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="SQLAlchemy URL (env EVANA_DATABASE_URL, default sqlite:///./evana.db)"),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table, json or csv")]


class ScopeChoice(enum.StrEnum):
    """Key scopes."""

    ingest = "ingest"
    read = "read"
    admin = "admin"


def _service(database_url: str | None) -> Any:
    settings = load_settings(database_url=database_url)
    srv = server()
    from evana.server._keys import KeyService
    from evana.server._storage import Database, upgrade

    db = Database(settings.database_url)
    if settings.auto_migrate:
        upgrade(db)
    del srv
    return KeyService(db)


def _row(record: Any) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "name": record.name,
        "scope": record.scope,
        "created_at": record.created_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


@keys_app.command("create")
def create(
    scope: Annotated[
        ScopeChoice,
        typer.Option(help="ingest (send events; safe in apps), read (stats) or admin (all)"),
    ],
    name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
    output: FormatOption = Format.table,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key; its text is printed once and never stored.

    Example: evana keys create --scope ingest --name web-app --format json
    """
    created = _service(database_url).create(scope.value, name)
    data = {"key": created.key, **_row(created.record)}
    if output is Format.json:
        print_json(data)
    elif output is Format.csv:
        print_csv(list(data), [list(data.values())])
    else:
        console.print(f"Created {scope.value} key {created.record.key_id} (shown only once):")
        console.print(created.key, soft_wrap=True)


@keys_app.command("list")
def list_keys(output: FormatOption = Format.table, database_url: DatabaseUrl = None) -> None:
    """List keys (ids, names, scopes; never the secrets).

    Example: evana keys list --format json
    """
    rows = [_row(record) for record in _service(database_url).list()]
    if output is Format.json:
        print_json(rows)
        return
    header = ["key_id", "name", "scope", "created_at", "revoked_at"]
    if output is Format.csv:
        print_csv(header, [[row[h] for h in header] for row in rows])
        return
    table = Table(*header, title="API keys")
    for row in rows:
        style = "dim" if row["revoked_at"] else None
        table.add_row(*[str(row[h] or "") for h in header], style=style)
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key: Annotated[
        str, typer.Argument(help="The key id (from `evana keys list`) or the key itself")
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: it stops working at once.

    Example: evana keys revoke 3f9c2a1b7d4e
    """
    record = _service(database_url).revoke(key)
    console.print(
        f"Revoked key {record.key_id} ({record.scope}{', ' + record.name if record.name else ''})."
    )
