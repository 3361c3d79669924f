"""Filters (``where``) as the SDK takes them, checked before sending, and a query's 422 made here.

A filter may be an :class:`evana.insights.Filter` or a plain mapping
(``{"key": "plan", "op": "eq", "value": "pro"}``); a ``where`` is a list of them (or one).
Every query the SDK sends is first validated by the same models the server validates with, so
a query the server would refuse with 422 raises the same :class:`~evana.errors.InvalidRequestError`
here, worded the same way, without a request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import pydantic
from pydantic import BaseModel

from evana.errors import InvalidRequestError
from evana.insights import Filter

__all__ = ["FilterLike", "WhereLike", "invalid", "validated", "where_filters", "where_param"]

#: One filter: a ``Filter`` or a mapping with ``key``, ``op`` and (unless is_set/is_not_set)
#: ``value``.
FilterLike: TypeAlias = Filter | Mapping[str, Any]
#: A ``where``: filters that must all hold (one filter alone is a list of one).
WhereLike: TypeAlias = FilterLike | Sequence[FilterLike]

Model = TypeVar("Model", bound=BaseModel)


def invalid(exc: pydantic.ValidationError, prefix: str = "") -> InvalidRequestError:
    """The 422 the server would answer for ``exc``: each problem as ``location: message``.

    >>> try:
    ...     Filter(key="", op="eq", value=1)
    ... except pydantic.ValidationError as exc:
    ...     print(invalid(exc, "where.0").detail)
    where.0.key: String should have at least 1 character
    """
    problems = []
    for item in exc.errors():
        loc = ".".join(str(part) for part in (prefix, *item.get("loc", ())) if part != "")
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{loc}: {message}" if loc else message)
    return InvalidRequestError("; ".join(problems), error="invalid_request")


def validated(model: type[Model], data: Mapping[str, Any], prefix: str = "") -> Model:
    """``data`` as ``model``, or the :class:`InvalidRequestError` the server would answer
    (locations under ``prefix``)."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise invalid(exc, prefix) from None


def where_filters(where: WhereLike | None, prefix: str = "where") -> list[Filter]:
    """``where`` as a list of checked filters (empty for None).

    >>> where_filters({"key": "plan", "op": "eq", "value": "pro"})
    [Filter(key='plan', op='eq', value='pro')]
    >>> where_filters([{"key": "n", "op": "gt", "value": "5"}])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    evana.errors.InvalidRequestError: 422 invalid_request: where.0: gt needs a number as value, ...
    """
    if where is None:
        return []
    items: Sequence[Any] = [where] if isinstance(where, Filter | Mapping) else where
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidRequestError(
            f"{prefix}: expected a list of filters, not {type(where).__name__}",
            error="invalid_request",
        )
    filters = []
    for index, item in enumerate(items):
        if isinstance(item, Filter):
            filters.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InvalidRequestError(
                f"{prefix}.{index}: a filter is a mapping with key, op and value,"
                f" not {type(item).__name__}",
                error="invalid_request",
            )
        try:
            filters.append(Filter.model_validate(item))
        except pydantic.ValidationError as exc:
            raise invalid(exc, f"{prefix}.{index}") from None
    return filters


def where_param(where: WhereLike | None) -> dict[str, str]:
    """The ``where`` query parameter of a report: the filters as compact JSON (URL-encoded
    when sent); nothing when there are none.

    >>> where_param([{"key": "plan", "op": "eq", "value": "pro"}])
    {'where': '[{"key":"plan","op":"eq","value":"pro"}]'}
    >>> where_param(None), where_param([])
    ({}, {})
    """
    filters = where_filters(where)
    if not filters:
        return {}
    # is_set / is_not_set go without a value, as people write them.
    dumped = [item.model_dump(mode="json", exclude_none=item.value is None) for item in filters]
    return {"where": json.dumps(dumped, ensure_ascii=False, separators=(",", ":"))}
