"""Lazy access to the server stack for commands that run it (keeps ``evana --help`` instant)."""

from __future__ import annotations

from types import ModuleType

from ._errors import missing_extra

__all__ = ["server"]


def server() -> ModuleType:
    """``evana.server``, or a one-line error naming the extra to install."""
    try:
        import evana.server as module
    except ImportError as exc:
        raise missing_extra(exc.name or "the server packages", "server") from None
    return module
