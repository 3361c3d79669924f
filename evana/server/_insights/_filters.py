"""``where`` filters compiled to predicates over an event's properties and its person's.

The semantics are DESIGN.md's, on JSON values: ``eq 5`` matches 5 and 5.0 but neither "5" nor
``true``; ordering ops match numbers only (booleans are not numbers); ``contains`` matches
strings only, case-sensitively; a missing or null property matches ``neq``, ``not_in`` and
``is_not_set`` and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from evana.errors import InvalidRequestError
from evana.insights import Filter
from evana.server._storage import Wanted

from ._values import PERSON_PREFIX, is_number, json_equal, lookup

__all__ = [
    "Predicate",
    "compile_where",
    "needs_event_properties",
    "parse_where",
    "string_matches",
    "wanted_rows",
]

#: ``predicate(event_properties, person_properties) -> bool``.
Predicate = Callable[[Any, "dict[str, Any] | None"], bool]

_FILTERS = TypeAdapter(list[Filter])


def parse_where(text: str | None) -> list[Filter]:
    """The ``where`` query parameter (a JSON list of filters); 422 when it is not one.

    >>> parse_where('[{"key": "plan", "op": "eq", "value": "pro"}]')[0].value
    'pro'
    >>> parse_where('{"key": "plan"}')
    Traceback (most recent call last):
    ...
    evana.errors.InvalidRequestError: 422 invalid_request: where: must be a JSON list of filters
    """
    if text is None:
        return []
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidRequestError("where: not valid JSON") from None
    if not isinstance(raw, list):
        raise InvalidRequestError("where: must be a JSON list of filters")
    try:
        return _FILTERS.validate_python(raw)
    except ValidationError as exc:
        detail = []
        for item in exc.errors():
            loc = ".".join(str(p) for p in item.get("loc", ()))
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            detail.append(f"where.{loc}: {message}" if loc else f"where: {message}")
        raise InvalidRequestError(detail) from None


def needs_event_properties(where: Sequence[Filter]) -> bool:
    """Whether any filter reads an event property (else rows can be loaded without them)."""
    return any(not f.key.startswith(PERSON_PREFIX) for f in where)


def _matcher(op: str, wanted: Any) -> Callable[[Any], bool]:
    """A test of one (present or missing) value for ``op``; missing and null arrive as None."""
    if op == "eq":
        return lambda v: v is not None and json_equal(v, wanted)
    if op == "neq":
        return lambda v: v is None or not json_equal(v, wanted)
    if op == "in":
        return lambda v: v is not None and any(json_equal(v, w) for w in wanted)
    if op == "not_in":
        return lambda v: v is None or not any(json_equal(v, w) for w in wanted)
    if op == "gt":
        return lambda v: is_number(v) and v > wanted
    if op == "gte":
        return lambda v: is_number(v) and v >= wanted
    if op == "lt":
        return lambda v: is_number(v) and v < wanted
    if op == "lte":
        return lambda v: is_number(v) and v <= wanted
    if op == "contains":
        return lambda v: isinstance(v, str) and wanted in v
    if op == "is_set":
        return lambda v: v is not None
    if op == "is_not_set":
        return lambda v: v is None
    raise InvalidRequestError(f"unknown filter op {op!r}")


def compile_where(where: Sequence[Filter]) -> Predicate | None:
    """One predicate that holds when every filter does; None for an empty list (all match).

    >>> holds = compile_where([Filter(key="n", op="eq", value=5)])
    >>> holds({"n": 5.0}, None), holds({"n": "5"}, None), holds({"n": True}, None)
    (True, False, False)
    """
    if not where:
        return None
    tests = [(f.key, _matcher(f.op, f.value)) for f in where]

    def predicate(properties: Any, person: dict[str, Any] | None) -> bool:
        return all(test(lookup(key, properties, person)) for key, test in tests)

    return predicate


def string_matches(where: Sequence[Filter]) -> list[tuple[str, list[str]]]:
    """The filters a database can pre-filter rows by: ``eq`` or ``in`` of strings on an event
    property, as (key, values). Every other filter is left to the exact test alone.

    >>> string_matches([Filter(key="plan", op="eq", value="pro"),
    ...     Filter(key="n", op="eq", value=5), Filter(key="person.plan", op="eq", value="pro")])
    [('plan', ['pro'])]
    """
    out = []
    for f in where:
        if f.key.startswith(PERSON_PREFIX) or '"' in f.key or "\\" in f.key:
            continue
        if f.op == "eq" and isinstance(f.value, str):
            out.append((f.key, [f.value]))
        elif f.op == "in" and f.value and all(isinstance(v, str) for v in f.value):
            out.append((f.key, list(f.value)))
    return out


def wanted_rows(parts: Iterable[tuple[str | None, Sequence[Filter]]]) -> list[Wanted] | None:
    """The rows any of ``parts`` (an event name, None for any, and its filters) can use, for
    the database to skip the others; None when some part can use every row, or when no filter
    narrows anything (the event names alone are already selected).

    >>> wanted_rows([("buy", [Filter(key="plan", op="eq", value="pro")]), ("view", [])])
    [('buy', [('plan', ['pro'])]), ('view', [])]
    >>> wanted_rows([(None, [])]) is None
    True
    """
    out: list[Wanted] = []
    for name, where in parts:
        matches = string_matches(where)
        if name is None and not matches:
            return None
        out.append((name, matches))
    return out if any(matches for _, matches in out) else None
