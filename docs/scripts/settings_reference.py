"""The configuration page, rendered from ``evana._settings.Settings``: every ``EVANA_*`` variable.

Each row comes from a field of ``Settings``: its environment variable, type, default and the
field's own description. The few fields without a description get theirs from ``_MORE`` below;
a new field with neither stops the build, so no setting goes undocumented.

    python docs/scripts/settings_reference.py > /tmp/configuration.md
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any

__all__ = ["settings_reference"]

#: Descriptions for the fields of ``Settings`` that do not carry one themselves.
_MORE = {
    "host": "Interface `evana serve` listens on (`--host`); `0.0.0.0` for every interface.",
    "port": "Port `evana serve` listens on (`--port`).",
    "max_batch_events": "Most events in one `POST /v1/events`; more is answered `413`.",
    "max_body_bytes": (
        "Largest request body, counted after gzip decompression; more is answered `413`."
    ),
    "retry_attempts": (
        "Times a worker retries a batch that failed for a reason that may pass, before it goes"
        " to the dead-letter queue."
    ),
    "retry_base_seconds": (
        "Wait before the n-th retry is base·3^(n-1): 3, 9, 27, 81, 243 s with the defaults."
    ),
}

_INTRO = """\
# Configuration

Every setting, generated from `evana._settings.Settings` each time the site is built (see
`docs/scripts/settings_reference.py`). A setting comes from, in order: a command-line option where
the command has one (`evana serve --port 9000`), the environment variable `EVANA_<NAME>`, then the
default. The server, the worker and the CLI read the same settings; the client SDK reads only
`EVANA_URL` and `EVANA_API_KEY` (when `url` and `api_key` are not passed to `Client`).

"""


def _type(annotation: Any) -> str:
    """A readable type: ``float, optional``, ``list of str``, ``public or key or off``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds = [_type(arg) for arg in args if arg is not type(None)]
        return " or ".join(kinds) + (", optional" if type(None) in args else "")
    if origin is typing.Literal:
        return " or ".join(f"`{arg}`" for arg in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    return str(getattr(annotation, "__name__", annotation))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if value == []:
        return "empty"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_reference() -> str:
    """The whole page, as Markdown."""
    from evana._settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    rows = []
    for name, field in Settings.model_fields.items():
        description = field.description or _MORE.get(name)
        if not description:
            raise RuntimeError(
                f"Settings.{name} has no description: give the field one, or add it to _MORE in"
                " docs/scripts/settings_reference.py"
            )
        variable = f"{prefix}{name}".upper()
        default = _default(field.get_default(call_default_factory=True))
        rows.append(
            f"| `{variable}` | {_type(field.annotation)} | {default} | {_cell(description)} |"
        )
    table = "| variable | type | default | meaning |\n| --- | --- | --- | --- |\n" + "\n".join(rows)
    return _INTRO + table + "\n"


if __name__ == "__main__":
    sys.stdout.write(settings_reference())
