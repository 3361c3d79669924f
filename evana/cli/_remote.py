"""The commands that talk to the API: where it is, which key, and its failures as one line.

``evana ingest``, ``evana stats`` and ``evana demo`` reach the server through the SDK only
(:class:`evana.Client`); this module builds that client from flags > ``EVANA_*`` > defaults and
turns the SDK's errors into the sentences a person at a terminal needs: the URL that did not
answer, the scope a key lacks, the command that makes a key.
"""

from __future__ import annotations

import contextlib
import ipaddress
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evana.errors import (
    AuthenticationError,
    ConfigurationError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TransportError,
)

from ._config import load_settings
from ._errors import CliError

if TYPE_CHECKING:
    from evana import Client

__all__ = ["ApiKeyOption", "Remote", "UrlOption", "configured", "explained", "remote"]

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="The evana API (env EVANA_URL; default http://127.0.0.1:8000)"),
]
ApiKeyOption = Annotated[
    str | None, typer.Option("--api-key", help="API key (env EVANA_API_KEY)", show_default=False)
]


@dataclass(frozen=True, slots=True)
class Remote:
    """The server a command talks to, its key, and the scope the command needs."""

    url: str
    api_key: str
    scope: str

    def client(self, **options: Any) -> Client:
        """An SDK client for this server (close it, or use it in a ``with`` block).

        >>> Remote("http://127.0.0.1:8000", "key", "read").client(disabled=True).close()
        True
        """
        from evana import Client

        try:
            return Client(self.url, self.api_key, **options)
        except ConfigurationError as exc:
            raise CliError(f"{exc} (set EVANA_URL or pass --url)") from None

    @property
    def is_local(self) -> bool:
        """Whether the server is on this machine (loopback), where gzip only costs CPU.

        >>> Remote("http://127.0.0.1:8000", "k", "read").is_local
        True
        >>> Remote("https://evana.example.com", "k", "read").is_local
        False
        """
        host = urllib.parse.urlsplit(self.url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _needs(self) -> str:
        return f"this command needs a key with scope {self.scope!r} (or 'admin')"


def configured(url: str | None, api_key: str | None, scope: str) -> Remote | None:
    """The server and key from ``--url``/``--api-key``, else ``EVANA_URL``/``EVANA_API_KEY``;
    None when no key is set anywhere.

    >>> configured("http://127.0.0.1:9000/", "evana_x", "read").url
    'http://127.0.0.1:9000'
    """
    settings = load_settings(url=url, api_key=api_key)
    key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
    return Remote(settings.url.rstrip("/"), key, scope) if key else None


def remote(url: str | None, api_key: str | None, scope: str) -> Remote:
    """Like :func:`configured`, but a missing key is an error, before any request is made:
    the server could only answer 401.

    >>> remote(None, "evana_x", "ingest").scope
    'ingest'
    """
    target = configured(url, api_key, scope)
    if target is None:
        raise CliError(
            f"no API key: this command needs a key with scope {scope!r} (or 'admin'); set"
            f" EVANA_API_KEY or pass --api-key (make one with `evana keys create --scope {scope}`)"
        )
    return target


def _reason(error: TransportError) -> str:
    # The SDK says "GET /v1/stats/dau: ConnectError: [Errno 111] Connection refused": the
    # request line is noise here, the kind and the reason are the news.
    text = str(error)
    head, _, rest = text.partition(": ")
    return rest if rest and head.split(" ", 1)[0].isupper() else text


def _detail(error: Exception) -> str:
    detail = getattr(error, "detail", None)
    if isinstance(detail, list):
        return "; ".join(str(d) for d in detail)
    return str(detail) if detail is not None else str(error)


@contextlib.contextmanager
def explained(target: Remote) -> Iterator[None]:
    """Turn the SDK's errors inside the block into one-line :class:`CliError` messages.

    >>> with explained(Remote("http://127.0.0.1:1", "k", "read")):  # doctest: +ELLIPSIS
    ...     raise TransportError("GET /v1/stats/dau: ConnectError: refused")
    Traceback (most recent call last):
    evana.cli._errors.CliError: cannot reach the evana server at http://127.0.0.1:1 (Conn...
    """
    try:
        yield
    except TransportError as exc:
        raise CliError(
            f"cannot reach the evana server at {target.url} ({_reason(exc)}); is `evana serve`"
            " running? Set EVANA_URL or pass --url"
        ) from None
    except AuthenticationError as exc:
        raise CliError(
            f"{target.url} refused the API key ({_detail(exc)}): {target._needs()}; set"
            " EVANA_API_KEY or pass --api-key"
        ) from None
    except PermissionDeniedError as exc:
        raise CliError(
            f"permission denied: {_detail(exc)}; make a key with"
            f" `evana keys create --scope {target.scope}`"
        ) from None
    except PayloadTooLargeError as exc:
        raise CliError(f"{_detail(exc)} (lower --batch-size)") from None
