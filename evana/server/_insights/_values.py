"""JSON values as insights compare and name them: numbers are numbers (booleans are not), 5 is 5.0.

Python's own ``==`` says ``True == 1`` and ``1 == 1.0``; these helpers keep JSON's types apart
while still treating an integral float and an int as the same number.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["PERSON_PREFIX", "breakdown_text", "is_number", "json_equal", "lookup"]

#: A filter or breakdown key starting so names a person property.
PERSON_PREFIX = "person."


def is_number(value: Any) -> bool:
    """A JSON number: an int or float, never a boolean.

    >>> is_number(5), is_number(5.0), is_number(True), is_number("5")
    (True, True, False, False)
    """
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: numbers by value, everything else by type and content.

    >>> json_equal(5, 5.0), json_equal(5, True), json_equal("5", 5), json_equal([1], [1.0])
    (True, False, False, True)
    >>> json_equal(10**300, 1e300), json_equal(10**400, 1e300)
    (True, False)
    """
    if is_number(a):
        if not is_number(b):
            return False
        if isinstance(a, float) != isinstance(b, float):
            # PostgreSQL's jsonb gives 1e300 back as an exact int, SQLite as a float: compare
            # mixed numbers as floats so both databases agree.
            try:
                return float(a) == float(b)
            except OverflowError:  # an int past every float
                return False
        return bool(a == b)
    if isinstance(a, bool) or isinstance(a, str) or a is None:
        return type(a) is type(b) and a == b
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(value, b[key]) for key, value in a.items())
        )
    return False


def _number_text(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == math.floor(value):
        return str(int(value))
    return repr(value)


def _normal(value: Any) -> Any:
    """Integral floats as ints, so nested numbers print as the same text as top-level ones."""
    if isinstance(value, float) and math.isfinite(value) and value == math.floor(value):
        return int(value)
    if isinstance(value, list):
        return [_normal(item) for item in value]
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    return value


def breakdown_text(value: Any) -> str | None:
    """The breakdown value of a property: its text, or None for a missing or null one.

    >>> [breakdown_text(v) for v in ("pro", True, 5, 5.0, 2.5, None, {"b": 1, "a": [2.0]})]
    ['pro', 'true', '5', '5', '2.5', None, '{"a":[2],"b":1}']
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    return json.dumps(_normal(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def lookup(key: str, properties: Any, person: dict[str, Any] | None) -> Any:
    """The value a filter or breakdown ``key`` reads: an event's top-level property (a dot is
    part of the name) or, for ``person.<name>``, the person's property; None when missing.

    >>> lookup("a.b", {"a.b": 1, "a": {"b": 2}}, None), lookup("person.plan", {}, {"plan": "pro"})
    (1, 'pro')
    """
    if key.startswith(PERSON_PREFIX):
        return (person or {}).get(key[len(PERSON_PREFIX) :])
    if isinstance(properties, dict):
        return properties.get(key)
    return None
