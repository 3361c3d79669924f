"""The insight and person contracts (DESIGN.md "Insights", "Persons"): queries and answers.

Shared by the server (request validation, OpenAPI), the SDK (typed results) and the CLI. A
query that breaks a rule here is refused with 422 by the server and before sending by the SDK.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .schema import IsoDate, IsoDateTime, Name, Period

__all__ = [
    "FILTER_OPS",
    "MATHS",
    "MAX_BREAKDOWN_LIMIT",
    "MAX_FUNNEL_STEPS",
    "MAX_SERIES",
    "MAX_WINDOW_DAYS",
    "PROPERTY_MATHS",
    "Filter",
    "FilterOp",
    "FunnelQuery",
    "FunnelResult",
    "FunnelStep",
    "FunnelStepResult",
    "FunnelWindow",
    "Lifecycle",
    "LifecyclePeriod",
    "Math",
    "Person",
    "Stickiness",
    "StickinessRow",
    "TrendPoint",
    "TrendResult",
    "TrendSeries",
    "Trends",
    "TrendsQuery",
]

MAX_SERIES = 10
MAX_FUNNEL_STEPS = 10
MAX_WINDOW_DAYS = 365
MAX_BREAKDOWN_LIMIT = 1000

FilterOp = Literal[
    "eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "is_set", "is_not_set"
]
FILTER_OPS: tuple[str, ...] = FilterOp.__args__  # type: ignore[attr-defined]
Math = Literal["total", "users", "sum", "avg", "min", "max", "median", "p90", "p95", "p99"]
MATHS: tuple[str, ...] = Math.__args__  # type: ignore[attr-defined]
#: Maths over a numeric ``property`` of the events.
PROPERTY_MATHS = frozenset(MATHS) - {"total", "users"}
Interval = Period
Number = int | float


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Filter(BaseModel):
    """One condition on an event property (or ``person.<name>``); a ``where`` list ANDs them.

    >>> Filter(key="plan", op="in", value=["pro", "team"]).op
    'in'
    >>> Filter(key="amount", op="gt", value="5")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Filter
      Value error, gt needs a number as value, not "5" [...]
    ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, Field(min_length=1, max_length=1000)]
    op: FilterOp
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Filter:
        op, value = self.op, self.value
        shown = _shown(value)
        if op in ("is_set", "is_not_set"):
            if value is not None:
                raise ValueError(f"{op} takes no value, got {shown}")
        elif value is None:
            raise ValueError(f"{op} needs a value (for a missing property use is_not_set)")
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ValueError(f"{op} needs a non-empty list as value, not {shown}")
            if any(item is None for item in value):
                raise ValueError(f"{op} values cannot be null (use is_set/is_not_set)")
        elif op in ("gt", "gte", "lt", "lte"):
            if not _is_number(value):
                raise ValueError(f"{op} needs a number as value, not {shown}")
        elif op == "contains":
            if not isinstance(value, str):
                raise ValueError(f"contains needs a string as value, not {shown}")
        return self


def _shown(value: Any) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


Where = Annotated[list[Filter], Field(default_factory=list)]


class TrendSeries(BaseModel):
    """One line of a trend: which events, and the math over them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Name | None = Field(default=None, description="An event name; null: every event.")
    math: Math = "total"
    property: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    where: Where

    @model_validator(mode="after")
    def _property_math(self) -> TrendSeries:
        if self.math in PROPERTY_MATHS and self.property is None:
            raise ValueError(f"math {self.math} needs a property (the number to aggregate)")
        return self


class TrendsQuery(BaseModel):
    """The body of ``POST /v1/query/trends``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: IsoDate
    until: IsoDate
    interval: Interval = "day"
    series: Annotated[list[TrendSeries], Field(min_length=1, max_length=MAX_SERIES)]
    breakdown: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    breakdown_limit: Annotated[int, Field(ge=1, le=MAX_BREAKDOWN_LIMIT)] = 10

    @model_validator(mode="after")
    def _ordered(self) -> TrendsQuery:
        if self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        return self


class TrendPoint(BaseModel):
    """One interval of a trend, dated by its first day."""

    date: dt.date
    value: Number | None


class TrendResult(BaseModel):
    """One series (and breakdown value) of a trend."""

    series: int
    event: str | None
    math: Math
    breakdown: str | None = None
    points: list[TrendPoint]
    total: Number | None


class Trends(BaseModel):
    """The answer of ``POST /v1/query/trends``."""

    interval: Interval
    since: dt.date
    until: dt.date
    results: list[TrendResult]


class FunnelStep(BaseModel):
    """One step of a funnel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Name
    where: Where


class FunnelWindow(BaseModel):
    """How long after entering a person has to complete the funnel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Annotated[int, Field(ge=1)]
    unit: Literal["minute", "hour", "day"] = "day"

    @property
    def seconds(self) -> int:
        return self.value * {"minute": 60, "hour": 3600, "day": 86400}[self.unit]

    @model_validator(mode="after")
    def _sane(self) -> FunnelWindow:
        if self.seconds > MAX_WINDOW_DAYS * 86400:
            raise ValueError(f"the window is over {MAX_WINDOW_DAYS} days")
        return self


class FunnelQuery(BaseModel):
    """The body of ``POST /v1/query/funnel``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: IsoDate
    until: IsoDate
    steps: Annotated[list[FunnelStep], Field(min_length=2, max_length=MAX_FUNNEL_STEPS)]
    window: FunnelWindow = FunnelWindow(value=14, unit="day")
    order: Literal["ordered", "any"] = "ordered"

    @model_validator(mode="after")
    def _ordered(self) -> FunnelQuery:
        if self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        return self


class FunnelStepResult(BaseModel):
    """How many persons reached a step, as a share of those who entered, and how fast."""

    event: str
    users: int
    conversion: float
    median_seconds: float | None


class FunnelResult(BaseModel):
    """The answer of ``POST /v1/query/funnel``."""

    steps: list[FunnelStepResult]


class StickinessRow(BaseModel):
    """Persons active on exactly ``days_active`` days of the range."""

    days_active: int
    users: int


class Stickiness(BaseModel):
    """The answer of ``GET /v1/stats/stickiness``: k = 1 … days in the range, zeros included."""

    since: dt.date
    until: dt.date
    days: list[StickinessRow]


class LifecyclePeriod(BaseModel):
    """New, returning, resurrecting and dormant persons of one period."""

    date: dt.date
    new: int
    returning: int
    resurrecting: int
    dormant: int


class Lifecycle(BaseModel):
    """The answer of ``GET /v1/stats/lifecycle``."""

    period: Period
    since: dt.date
    until: dt.date
    periods: list[LifecyclePeriod]


class Person(BaseModel):
    """The answer of ``GET /v1/persons/{id}``: every linked id, merged properties, activity."""

    distinct_ids: list[str]
    properties: dict[str, Any]
    first_seen: IsoDateTime | None
    last_seen: IsoDateTime | None
