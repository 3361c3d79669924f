"""``evana users``: export or erase one user's data (data rights; an admin key).

These two calls go straight over httpx rather than through :class:`evana.Client`: the SDK is
made for sending events and reading reports, an export is a stream of JSON lines that should
reach the file without being held in memory, and an erasure is one request that a person
confirms. Errors come back as the SDK's :mod:`evana.errors` classes all the same, so
:func:`~evana.cli._remote.explained` words them like every other command's. ``evana keys
--url`` makes its admin calls with the same :func:`api_request`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO
from urllib.parse import quote

import typer

from evana.errors import TransportError, error_for_status
from evana.schema import ErrorBody, UserErasure

from ._output import Format, console, err_console, print_csv, print_json
from ._remote import ApiKeyOption, Remote, UrlOption, explained, remote
from ._words import counted

if TYPE_CHECKING:
    import httpx

__all__ = ["api_request", "users_app"]

users_app = typer.Typer(help="Export or erase a user's events (data rights; needs an admin key).")

UserId = Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id, as in events")]


def user_path(user_id: str) -> str:
    """The API path of a user: the id as one segment, dots encoded so "." and ".." survive.

    >>> user_path("auth0|42/b.c")
    '/v1/users/auth0%7C42%2Fb%2Ec'
    """
    return "/v1/users/" + quote(user_id, safe="").replace(".", "%2E")


@contextlib.contextmanager
def api_request(
    target: Remote, method: str, path: str, body: object = None
) -> Iterator[httpx.Response]:
    """One streamed request (``body`` sent as JSON when given); connection failures and error
    answers raise :mod:`evana.errors`."""
    import httpx

    headers = {"X-API-Key": target.api_key, "Accept": "application/json, application/x-ndjson"}
    # A server that is down is told in seconds; one that answers slowly gets half a minute.
    timeout = httpx.Timeout(30.0, connect=5.0)
    try:
        with (
            httpx.Client(base_url=target.url, timeout=timeout, headers=headers) as client,
            client.stream(method, path, json=body) as answer,
        ):
            if answer.status_code >= 400:
                answer.read()
                raise _error(answer)
            yield answer
    except httpx.HTTPError as exc:
        raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from None


def _error(answer: httpx.Response) -> Exception:
    error: str | None
    detail: str | None
    try:
        body = ErrorBody.model_validate_json(answer.content)
        error, detail = body.error, body.detail
    except ValueError:
        error, detail = None, answer.text[:500] or None
    retry_after = answer.headers.get("retry-after")
    seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
    return error_for_status(answer.status_code, error, detail, retry_after=seconds)


@users_app.command("delete")
def delete(
    user_id: UserId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    output: Annotated[
        Format, typer.Option("--format", "-f", help="table, json or csv")
    ] = Format.table,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Erase a user: delete their events and take them out of every report, for good.

    Example: evana users delete u_42 --yes
    """
    target = remote(url, api_key, "admin")
    if not yes:
        typer.confirm(
            f"Erase every event of user {user_id!r} from {target.url}? This cannot be undone",
            abort=True,
        )
    with explained(target), api_request(target, "DELETE", user_path(user_id)) as answer:
        erased = UserErasure.model_validate_json(answer.read())
    if output is Format.json:
        print_json(erased.model_dump())
    elif output is Format.csv:
        print_csv(["user_id", "events_deleted"], [[erased.user_id, erased.events_deleted]])
    else:
        deleted = counted(erased.events_deleted, "event")
        console.print(f"Erased user {erased.user_id!r}: {deleted} deleted.")


@users_app.command("export")
def export(
    user_id: UserId,
    output_file: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (default: standard output)"),
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Export a user's events as JSON lines, oldest first (one event per line).

    Example: evana users export u_42 -o u_42.jsonl
    """
    target = remote(url, api_key, "admin")
    with explained(target), api_request(target, "GET", user_path(user_id) + "/events") as answer:
        if output_file is None:
            count = _copy(answer, typer.get_binary_stream("stdout"))
        else:
            count = _write_whole(answer, output_file)
    where = f" to {output_file}" if output_file is not None else ""
    err_console.print(f"Exported {counted(count, 'event')} of user {user_id!r}{where}.")


def _copy(answer: httpx.Response, sink: BinaryIO) -> int:
    # Bytes as they come, counted by b"\n": the server ends every event with one, and JSON
    # escapes it inside strings (str.splitlines would also split on U+2028 and the like, which
    # JSON leaves raw).
    count = 0
    for chunk in answer.iter_bytes():
        sink.write(chunk)
        count += chunk.count(b"\n")
    sink.flush()
    return count


def _write_whole(answer: httpx.Response, path: Path) -> int:
    # Into a temporary file beside the target, renamed at the end: a stream cut short never
    # leaves a file that looks like a complete export.
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as sink:
            count = _copy(answer, sink)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return count
