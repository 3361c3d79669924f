"""Settings for a command: flags first, then ``EVANA_*`` environment, then defaults."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from evana._settings import Settings

from ._errors import CliError

__all__ = ["load_settings"]


def load_settings(**flags: Any) -> Settings:
    """Settings with every flag that was given (not None) overriding the environment."""
    try:
        return Settings(**{name: value for name, value in flags.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"EVANA_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise CliError(f"invalid settings: {problems}") from None
