"""The options ``Client`` and ``AsyncClient`` share, their defaults, and their checks."""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict

from evana.errors import ConfigurationError, EvanaError

from ._retry import RetryPolicy
from ._transport import AsyncTransport, Transport

__all__ = ["ClientKwargs", "ClientOptions", "DropCallback", "ErrorCallback", "OnFull"]

OnFull = Literal["drop", "block", "raise"]
#: ``on_error(event, error)``: the event as a JSON-ready dict, and why it was not delivered.
ErrorCallback = Callable[[dict[str, Any], EvanaError], object]
#: ``on_drop(event, reason)``: an event the client let go of, and why ("queue_full", ...).
DropCallback = Callable[[dict[str, Any], str], object]

DEFAULT_URL = "http://127.0.0.1:8000"
#: The server's default limits (DESIGN.md); a client can be tuned down, not past them.
SERVER_MAX_EVENTS = 5000
SERVER_MAX_BYTES = 10 * 1024 * 1024


class ClientKwargs(TypedDict, total=False):
    """The keyword options of ``Client(url, api_key, **options)``; see :class:`ClientOptions`."""

    flush_at: int
    flush_interval: float
    max_batch_bytes: int
    max_queue_size: int
    on_full: OnFull
    on_error: ErrorCallback | None
    on_drop: DropCallback | None
    strict: bool
    sync_mode: bool
    disabled: bool
    gzip: bool
    timeout: float
    connect_timeout: float
    stats_timeout: float
    retry: RetryPolicy
    shutdown_timeout: float
    dedup_window: int
    transport: Transport | AsyncTransport | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """Every option of a client, checked once when it is built.

    ``url``/``api_key`` default to ``EVANA_URL`` (else ``http://127.0.0.1:8000``) and
    ``EVANA_API_KEY``. A batch goes out at ``flush_at`` events, at ``max_batch_bytes`` of JSON,
    or ``flush_interval`` seconds after the sender last looked, whichever comes first. At most
    ``max_queue_size`` events wait; beyond that ``on_full`` decides: ``"drop"`` (count it and
    call ``on_drop``), ``"block"`` (``track`` waits for room) or ``"raise"`` (``QueueFullError``).
    The last ``dedup_window`` ids are remembered to drop exact duplicates locally. At exit,
    queued events get ``shutdown_timeout`` seconds to go out.

    Each request waits at most ``connect_timeout`` seconds (3) for a connection and
    ``timeout`` (10) for each read or write. A ``client.stats`` call takes at most
    ``stats_timeout`` seconds (15) in all, retries and their waits included, then raises
    ``TransportError`` (or the last error answer): someone is waiting for that report, unlike
    for events, which go on being retried in the background within ``retry.budget``.

    >>> ClientOptions.build("http://127.0.0.1:8000", "key", flush_at=100).flush_at
    100
    """

    url: str
    api_key: str
    flush_at: int = 500
    flush_interval: float = 0.5
    max_batch_bytes: int = 1024 * 1024
    max_queue_size: int = 10_000
    on_full: OnFull = "drop"
    on_error: ErrorCallback | None = None
    on_drop: DropCallback | None = None
    strict: bool = False
    sync_mode: bool = False
    disabled: bool = False
    gzip: bool = True
    timeout: float = 10.0
    connect_timeout: float = 3.0
    stats_timeout: float = 15.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    shutdown_timeout: float = 5.0
    dedup_window: int = 20_000
    transport: Transport | AsyncTransport | None = None

    @classmethod
    def build(cls, url: str | None, api_key: str | None, **options: Any) -> ClientOptions:
        """Apply the environment defaults, check every option, raise ``ConfigurationError``."""
        known = {f.name for f in fields(cls)} - {"url", "api_key"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigurationError(f"unknown client option(s): {', '.join(unknown)}")
        url = url or os.environ.get("EVANA_URL") or DEFAULT_URL
        api_key = api_key or os.environ.get("EVANA_API_KEY") or ""
        built = cls(url=url.rstrip("/"), api_key=api_key, **options)
        built._check()
        return built

    def _check(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"url must be http(s)://host[:port], got {self.url!r}")
        if not isinstance(self.api_key, str) or not self.api_key:
            raise ConfigurationError("api_key is required (or set EVANA_API_KEY)")
        _between("flush_at", self.flush_at, 1, SERVER_MAX_EVENTS)
        _between("max_batch_bytes", self.max_batch_bytes, 1024, SERVER_MAX_BYTES)
        _between("max_queue_size", self.max_queue_size, 1, 10**8)
        _between("dedup_window", self.dedup_window, 0, 10**8)
        for name in (
            "flush_interval",
            "timeout",
            "connect_timeout",
            "stats_timeout",
            "shutdown_timeout",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if self.on_full not in ("drop", "block", "raise"):
            raise ConfigurationError(
                f'on_full must be "drop", "block" or "raise", not {self.on_full!r}'
            )
        for name in ("on_error", "on_drop"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ConfigurationError(f"{name} must be callable")
        if not isinstance(self.retry, RetryPolicy):
            raise ConfigurationError("retry must be an evana.client.RetryPolicy")


def _between(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an integer from {low} to {high}, got {value!r}")
