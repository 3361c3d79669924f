"""``--where``: event filters on the command line, as ``'KEY OP VALUE'`` or as JSON.

Each ``--where`` is one filter written ``plan eq pro``, ``amount gt 10``, ``plan in pro,team``
or ``email is_set``, or a JSON filter or list of them (``'[{"key": "plan", "op": "eq",
"value": "pro"}]'``); every filter given must hold. A written value is read as JSON when it is
JSON (``5`` a number, ``true`` a boolean, ``'"5"'`` the string "5") and as text otherwise;
``contains`` always takes text. Each filter is checked here, with the rules the server applies,
so a wrong one is a usage error before any request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from ._errors import UsageError

__all__ = ["WhereOption", "parse_where"]

WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        "-w",
        metavar="FILTER",
        help="Only events where 'KEY OP VALUE' holds (repeatable; all must hold), e.g."
        " 'plan eq pro', 'amount gte 10', 'plan in pro,team', 'email is_set', 'person.plan eq"
        " pro', or a JSON list of {key, op, value}. Ops: eq neq in not_in gt gte lt lte"
        " contains is_set is_not_set",
        show_default=False,
    ),
]

_NO_VALUE = ("is_set", "is_not_set")


def _scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _value(text: str, op: str) -> Any:
    if op == "contains":
        # Text as written; a quoted JSON string for text with surrounding spaces.
        return _scalar(text) if text.startswith('"') else text
    if op in ("in", "not_in"):
        whole = _scalar(text)
        if isinstance(whole, list):
            return whole
        return [_scalar(part.strip()) for part in text.split(",")]
    return _scalar(text)


def _written(text: str) -> dict[str, Any]:
    from evana.insights import FILTER_OPS

    parts = text.split(None, 2)
    if len(parts) < 2:
        raise UsageError(
            f"--where {text!r}: write a filter as 'KEY OP VALUE' (e.g. 'plan eq pro') or as JSON"
        )
    key, op = parts[0], parts[1]
    if op not in FILTER_OPS:
        raise UsageError(f"--where {text!r}: unknown op {op!r}; use one of {' '.join(FILTER_OPS)}")
    if op in _NO_VALUE:
        if len(parts) == 3:
            raise UsageError(f"--where {text!r}: {op} takes no value")
        return {"key": key, "op": op}
    if len(parts) < 3:
        raise UsageError(f"--where {text!r}: {op} needs a value, e.g. '{key} {op} VALUE'")
    return {"key": key, "op": op, "value": _value(parts[2].strip(), op)}


def _json(text: str) -> list[Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--where: not valid JSON ({exc})") from None
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict):
            raise UsageError(f"--where: a filter is a JSON object with key, op and value: {text}")
    return items


def parse_where(values: Sequence[str] | None) -> list[dict[str, Any]]:
    """The filters of every ``--where``, checked; empty when none was given.

    >>> for item in parse_where(["plan in pro,team", "amount gt 5", "email is_set"]):
    ...     print(item)
    {'key': 'plan', 'op': 'in', 'value': ['pro', 'team']}
    {'key': 'amount', 'op': 'gt', 'value': 5}
    {'key': 'email', 'op': 'is_set'}
    >>> parse_where(['[{"key": "plan", "op": "eq", "value": "5"}]'])
    [{'key': 'plan', 'op': 'eq', 'value': '5'}]
    >>> parse_where(["amount gt lots"])
    Traceback (most recent call last):
    evana.cli._errors.UsageError: --where 'amount gt lots': gt needs a number as value, not "lots"
    """
    import pydantic

    from evana.insights import Filter

    filters: list[dict[str, Any]] = []
    for text in values or ():
        stripped = text.strip()
        given = _json(stripped) if stripped[:1] in ("[", "{") else [_written(stripped)]
        for item in given:
            try:
                Filter.model_validate(item)
            except pydantic.ValidationError as exc:
                problems = "; ".join(
                    ".".join(str(p) for p in e["loc"]) + ": " + e["msg"]
                    if e["loc"]
                    else e["msg"].removeprefix("Value error, ")
                    for e in exc.errors()
                )
                raise UsageError(f"--where {text!r}: {problems}") from None
            filters.append(item)
    return filters
