"""``evana keys``: create, list and revoke API keys, over the API or in the database.

Where the keys are managed, decided once per command:

1. ``--database-url`` given: that database, directly.
2. ``--url`` given, or ``EVANA_URL`` set: that server's API (``/v1/keys``), with an admin key
   from ``--api-key`` or ``EVANA_API_KEY``.
3. Otherwise the configured database (``EVANA_DATABASE_URL``, default ``./evana.db``), which
   must exist: a missing SQLite file is an error, never a new empty database whose keys the
   server would not know.

Both ways print the same shapes: those of the API (``--format json``).
"""

from __future__ import annotations

import enum
import os
from typing import Annotated, Protocol

import typer

from evana.schema import CreatedKey, KeyInfo, KeyList

from ._config import load_settings
from ._errors import CliError
from ._output import Format, console, print_csv, print_json, print_table
from ._remote import ApiKeyOption, Remote, explained, remote

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Manage API keys: over the API with --url (or EVANA_URL) and an admin key, else in the"
    " database of EVANA_DATABASE_URL (which must exist; `evana serve` creates it)."
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="Work on this database directly (SQLAlchemy URL; env EVANA_DATABASE_URL, default"
        " sqlite:///./evana.db) even when EVANA_URL is set"
    ),
]
KeysUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Manage keys through this server's API (env EVANA_URL), with an admin --api-key",
        show_default=False,
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table, json or csv")]
_COLUMNS = ["key_id", "name", "scope", "created_at", "revoked_at"]
_PREFIX, _ID_LENGTH = "evana_", 12


class ScopeChoice(enum.StrEnum):
    """Key scopes."""

    ingest = "ingest"
    read = "read"
    admin = "admin"


class _Keys(Protocol):
    def create(self, scope: str, name: str | None) -> CreatedKey: ...
    def list(self) -> KeyList: ...
    def revoke(self, key_id: str) -> KeyInfo: ...


def key_id_of(key_or_id: str) -> str:
    """The id of a key given by its id or by its whole text (the id is part of the key).

    >>> key_id_of("evana_2e3320121eef_pdptmzqhAc38Hya"), key_id_of("2e3320121eef")
    ('2e3320121eef', '2e3320121eef')
    """
    text = key_or_id.strip()
    end = len(_PREFIX) + _ID_LENGTH
    if text.startswith(_PREFIX) and text[end : end + 1] == "_":
        return text[len(_PREFIX) : end]
    return text


class _Database:
    """Keys in the database, through the server's own key service."""

    def __init__(self, database_url: str | None) -> None:
        from ._db import existing_database

        settings = load_settings(database_url=database_url)
        self.db = existing_database(
            settings.database_url, hint=", or manage keys through the API with --url"
        )
        from evana.server._keys import KeyService, key_info
        from evana.server._storage import upgrade

        if settings.auto_migrate:
            upgrade(self.db)
        self.service = KeyService(self.db)
        self.key_info = key_info

    def create(self, scope: str, name: str | None) -> CreatedKey:
        created = self.service.create(scope, name or "")
        return CreatedKey(
            key_id=created.record.key_id,
            key=created.key,
            scope=created.record.scope,
            name=created.record.name or None,
            created_at=created.record.created_at,
        )

    def list(self) -> KeyList:
        return KeyList(keys=[self.key_info(record) for record in self.service.list()])

    def revoke(self, key_id: str) -> KeyInfo:
        return self.key_info(self.service.revoke(key_id))


class _Api:
    """Keys through ``/v1/keys`` of a running server (an admin key)."""

    def __init__(self, target: Remote) -> None:
        self.target = target

    def _call(self, method: str, path: str, body: object = None) -> bytes:
        from ._users import api_request

        with explained(self.target), api_request(self.target, method, path, body) as answer:
            return answer.read()

    def create(self, scope: str, name: str | None) -> CreatedKey:
        body = {"scope": scope, **({"name": name} if name else {})}
        return CreatedKey.model_validate_json(self._call("POST", "/v1/keys", body))

    def list(self) -> KeyList:
        return KeyList.model_validate_json(self._call("GET", "/v1/keys"))

    def revoke(self, key_id: str) -> KeyInfo:
        self._call("DELETE", f"/v1/keys/{key_id}")
        for key in self.list().keys:
            if key.key_id == key_id:
                return key
        raise CliError(f"key {key_id} was revoked, then not found in the list")  # pragma: no cover


def _keys(url: str | None, api_key: str | None, database_url: str | None) -> _Keys:
    if url is not None and database_url is not None:
        raise CliError("pass --url (the API) or --database-url (the database), not both")
    if database_url is None and (url is not None or os.environ.get("EVANA_URL")):
        return _Api(remote(url, api_key, "admin"))
    return _Database(database_url)


def _info_row(key: KeyInfo) -> list[str | None]:
    revoked = key.revoked_at.isoformat() if key.revoked_at else None
    return [key.key_id, key.name, key.scope, key.created_at.isoformat(), revoked]


@keys_app.command("create")
def create(
    scope: Annotated[
        ScopeChoice,
        typer.Option(help="ingest (send events; safe in apps), read (stats) or admin (all)"),
    ],
    name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
    output: FormatOption = Format.table,
    url: KeysUrl = None,
    api_key: ApiKeyOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key; its text is printed once and never stored.

    With --url (or EVANA_URL) the server's API makes it (needs an admin key); otherwise it is
    written to the configured database, which must exist.

    Example: evana keys create --scope ingest --name web-app --format json
    """
    created = _keys(url, api_key, database_url).create(scope.value, name or None)
    if output is Format.json:
        print_json(created.model_dump(mode="json"))
    elif output is Format.csv:
        data = created.model_dump(mode="json")
        print_csv(list(data), [list(data.values())])
    else:
        console.print(f"Created {created.scope} key {created.key_id} (shown only once):")
        console.print(created.key, soft_wrap=True)


@keys_app.command("list")
def list_keys(
    output: FormatOption = Format.table,
    url: KeysUrl = None,
    api_key: ApiKeyOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List keys, oldest first (ids, names, scopes; never the secrets).

    Example: evana keys list --format json
    """
    listed = _keys(url, api_key, database_url).list()
    if output is Format.json:
        print_json(listed.model_dump(mode="json"))
        return
    if output is Format.csv:
        print_csv(_COLUMNS, [_info_row(key) for key in listed.keys])
        return
    from rich.table import Table

    table = Table(title="API keys", title_justify="left")
    for column in _COLUMNS:
        table.add_column(column, no_wrap=column != "name", overflow="fold")
    for key in listed.keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        table.add_row(
            key.key_id,
            key.name or "",
            key.scope,
            f"{key.created_at:%Y-%m-%d %H:%M}",  # to the minute (UTC): --format json has it all
            revoked,
            style="dim" if key.revoked_at else None,
        )
    print_table(table)


@keys_app.command("revoke")
def revoke(
    key: Annotated[
        str, typer.Argument(help="The key id (from `evana keys list`) or the key itself")
    ],
    output: FormatOption = Format.table,
    url: KeysUrl = None,
    api_key: ApiKeyOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: its next request is refused, by every API process.

    Revoking a revoked key changes nothing (not an error).

    Example: evana keys revoke 3f9c2a1b7d4e
    """
    revoked = _keys(url, api_key, database_url).revoke(key_id_of(key))
    if output is Format.json:
        print_json(revoked.model_dump(mode="json"))
    elif output is Format.csv:
        print_csv(_COLUMNS, [_info_row(revoked)])
    else:
        label = f"{revoked.scope}{', ' + revoked.name if revoked.name else ''}"
        console.print(f"Revoked key {revoked.key_id} ({label}).")
