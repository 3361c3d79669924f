"""Settings for a command: flags first, then ``EVANA_*`` environment, then defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from evana._settings import Settings

from ._errors import CliError, UsageError

__all__ = ["load_settings"]


def load_settings(flag_names: Mapping[str, str] | None = None, **flags: Any) -> Settings:
    """Settings with every flag that was given (not None) overriding the environment.

    A value refused because of a flag is a usage error (exit 2, the flag named: ``--<field>``
    unless ``flag_names`` maps the field to its flag); one refused because of the environment
    is a configuration error (exit 1, the variable named).
    """
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems, by_flag = [], True
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            if field in given:
                flag = (flag_names or {}).get(field, "--" + field.replace("_", "-"))
                problems.append(f"{flag} (EVANA_{field.upper()}): {error['msg']}")
            else:
                by_flag = False
                name = "_".join(str(p) for p in error["loc"]).upper()
                problems.append(f"EVANA_{name}: {error['msg']}")
        if by_flag:
            raise UsageError("; ".join(problems)) from None
        raise CliError(f"invalid settings: {'; '.join(problems)}") from None
