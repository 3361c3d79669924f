"""The HTTP API reference page, rendered from the server's own OpenAPI schema at build time.

The schema comes from ``create_app(Settings(database_url="sqlite://")).openapi()``, the same
document a running server serves at ``/openapi.json``; the page needs no CDN or JavaScript. The
scope each route needs is not in the schema, so it is measured: the app runs in memory and each
route is called with an ``ingest``, a ``read`` and an ``admin`` key; the first key not refused
with 401/403 names the scope.

    python docs/scripts/http_reference.py > /tmp/http-api.md     # the page, on stdout
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from typing import Any

__all__ = ["http_reference", "measured_scopes", "openapi_schema"]

_METHODS = ("get", "post", "put", "patch", "delete")

_INTRO = """\
# HTTP API reference

Generated from the server's OpenAPI schema each time the site is built (see
`docs/scripts/http_reference.py`). A running server serves the same schema at `/openapi.json`
and an interactive page at `/docs`.

- **Base URL**: where `evana serve` listens, `http://127.0.0.1:8000` by default.
- **Authentication**: an API key in the `X-API-Key` header, or as `Authorization: Bearer <key>`.
  A key has one scope: `ingest` (send events only), `read` (reports) or `admin` (everything).
  No key, or an unknown or revoked one: `401`. A key whose scope does not allow the route: `403`.
- **Errors**: every error answer is JSON `{"error": "<code>", "detail": ...}`, where `detail` is
  a sentence or a list of sentences. [Troubleshooting](../troubleshooting.md) lists every code.
- **Dates** are `YYYY-MM-DD` UTC days, inclusive at both ends.
"""


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document of the API, built without serving it."""
    from evana.server import Settings, create_app

    schema: dict[str, Any] = create_app(Settings(database_url="sqlite://")).openapi()
    return schema


def measured_scopes(schema: dict[str, Any]) -> dict[tuple[str, str], str]:
    """``(method, path) -> scope`` for every secured route, found by calling it with each key."""
    with warnings.catch_warnings():
        # Starlette asks for its httpx fork in TestClient; plain httpx works (see pyproject).
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from evana.server import Settings, create_app
    from evana.server._keys import KeyService

    scopes: dict[tuple[str, str], str] = {}
    with TestClient(create_app(Settings(database_url="sqlite://"))) as client:
        keys = KeyService(client.app_state["evana"].db)
        by_scope = {scope: keys.create(scope).key for scope in ("ingest", "read", "admin")}
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if method not in _METHODS or not operation.get("security"):
                    continue
                for scope, key in by_scope.items():
                    answer = client.request(
                        method.upper(), path, headers={"X-API-Key": key}, content=b"{}"
                    )
                    if answer.status_code not in (401, 403):
                        scopes[(method, path)] = scope
                        break
    return scopes


def _text(text: str | None) -> str:
    """A docstring as Markdown: reST literals become code, doctest lines go."""
    lines = [line for line in (text or "").splitlines() if not line.lstrip().startswith(">>>")]
    text = "\n".join(lines)
    if "\n'" in text:  # a doctest's expected output line
        text = text.split("\n'")[0]
    return re.sub(r"``([^`]+)``", r"`\1`", text).strip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _type(schema: dict[str, Any]) -> str:
    """A short type name for a JSON schema: ``string (date)``, ``array of Cohort``, ..."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        kinds = [_type(option) for option in schema["anyOf"] if option.get("type") != "null"]
        nullable = any(option.get("type") == "null" for option in schema["anyOf"])
        return " or ".join(kinds) + (" or null" if nullable else "")
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _constraints(schema: dict[str, Any]) -> str:
    found = {}
    for option in [schema, *schema.get("anyOf", [])]:
        for key in ("minimum", "maximum", "minLength", "maxLength"):
            if key in option:
                found[key] = option[key]
    words = {"minimum": "min", "maximum": "max", "minLength": "min length"}
    words["maxLength"] = "max length"
    parts = [f"{words[key]} {value}" for key, value in found.items()]
    if "default" in schema and schema["default"] is not None:
        parts.append(f"default `{schema['default']}`")
    return ", ".join(parts)


def _parameters(operation: dict[str, Any]) -> str:
    rows = []
    for param in operation.get("parameters", []):
        schema = param.get("schema", {})
        description = param.get("description", "")
        extra = _constraints(schema)
        if extra:
            description = f"{description} ({extra})" if description else extra
        required = "yes" if param.get("required") else "no"
        rows.append(
            f"| `{param['name']}` | {param['in']} | {_type(schema)} | {required}"
            f" | {_cell(description)} |"
        )
    if not rows:
        return ""
    header = "| parameter | in | type | required | description |\n| --- | --- | --- | --- | --- |\n"
    return header + "\n".join(rows)


def _responses(operation: dict[str, Any]) -> str:
    rows = []
    for status, answer in sorted(operation.get("responses", {}).items()):
        content = answer.get("content", {})
        body = ""
        for media, spec in content.items():
            schema = spec.get("schema")
            body = f"{_type(schema)} ({media})" if schema else media
        rows.append(f"| `{status}` | {_cell(answer.get('description', ''))} | {body} |")
    return "| status | meaning | body |\n| --- | --- | --- |\n" + "\n".join(rows)


def _operation(method: str, path: str, operation: dict[str, Any], scope: str | None) -> str:
    parts = [f"### `{method.upper()} {path}`", f"**{operation.get('summary', '')}**"]
    parts.append(_text(operation.get("description")))
    parts.append(f"Scope: `{scope}` (or `admin`)." if scope else "No API key needed.")
    parts.append(_parameters(operation))
    body = operation.get("requestBody")
    if body:
        for media, spec in body.get("content", {}).items():
            line = f"Request body ({media}): {_type(spec.get('schema', {}))}."
            if body.get("description"):
                line += " " + body["description"]
            parts.append(line)
    parts.append(_responses(operation))
    return "\n\n".join(part for part in parts if part)


def _model(name: str, schema: dict[str, Any]) -> str:
    parts = [f"### {name}", _text(schema.get("description"))]
    required = set(schema.get("required", []))
    rows = []
    for field, spec in schema.get("properties", {}).items():
        description = spec.get("description", "")
        extra = _constraints(spec)
        if extra:
            description = f"{description} ({extra})" if description else extra
        rows.append(
            f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'}"
            f" | {_cell(description)} |"
        )
    if rows:
        header = "| field | type | required | description |\n| --- | --- | --- | --- |\n"
        parts.append(header + "\n".join(rows))
    if schema.get("additionalProperties") is False:
        parts.append("Unknown fields are rejected.")
    return "\n\n".join(part for part in parts if part)


def http_reference(schema: dict[str, Any] | None = None) -> str:
    """The whole page, as Markdown."""
    schema = schema if schema is not None else openapi_schema()
    scopes = measured_scopes(schema)
    info = schema["info"]
    out = [_INTRO, f"API version {info['version']}, OpenAPI {schema['openapi']}.", "## Routes"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in _METHODS:
                out.append(_operation(method, path, operation, scopes.get((method, path))))
    out.append("## Models")
    for name, model in sorted(schema.get("components", {}).get("schemas", {}).items()):
        out.append(_model(name, model))
    out.append(
        "## The schema itself\n\n<details><summary>openapi.json</summary>\n\n```json\n"
        + json.dumps(schema, indent=2)
        + "\n```\n\n</details>"
    )
    return "\n\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(http_reference())
