"""The wire format, shared by the client SDK, the server and the CLI: events, batches, reports.

The rules of a valid event (DESIGN.md "Event") live in :mod:`evana._contract`; :class:`Event`
is built from them and is the exact verdict every path falls back to. The server's batch
validation (normalised events, per-index rejections) belongs to the server
(``evana/server/_batch.py``), not to this module.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ._contract import (
    EVENT_ID_NAMESPACE,
    MAX_FUTURE,
    MAX_NAME_LENGTH,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTIES_DEPTH,
    MIN_TIMESTAMP,
    check_field_names,
    check_properties,
    check_text,
    check_timestamp,
    check_unicode,
    derive_event_id,
    format_errors,
    iso_only,
)

__all__ = [
    "EVENT_ID_NAMESPACE",
    "MAX_FUTURE",
    "MAX_NAME_LENGTH",
    "MAX_PROPERTIES_BYTES",
    "MAX_PROPERTIES_DEPTH",
    "MIN_TIMESTAMP",
    "ActiveUsers",
    "Cohort",
    "CreatedKey",
    "DayValue",
    "ErrorBody",
    "Event",
    "EventBatch",
    "EventCount",
    "IngestResult",
    "IsoDate",
    "IsoDateTime",
    "KeyInfo",
    "KeyList",
    "KeyScope",
    "Name",
    "NewKey",
    "Period",
    "RejectedEvent",
    "Retention",
    "TopEvents",
    "UserErasure",
    "derive_event_id",
    "format_errors",
]

Period = Literal["day", "week", "month"]

#: A date-time in ISO 8601 text (or a ``datetime`` from Python code); numbers are refused.
IsoDateTime = Annotated[dt.datetime, BeforeValidator(iso_only)]
#: A ``YYYY-MM-DD`` date (or a ``date`` from Python code); numbers are refused.
IsoDate = Annotated[dt.date, BeforeValidator(iso_only)]

#: ``event`` and ``user_id``: 1-200 characters of valid Unicode without NUL. The text test also
#: runs before the type check, whose own refusal of a lone surrogate would be vaguer; placed
#: after the constraints, it leaves their messages ("String should have at least 1 character").
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    BeforeValidator(check_text),
    AfterValidator(check_text),
]


class Event(BaseModel):
    """One event as sent on the wire.

    >>> Event(event="signup", user_id="u_42", properties={"plan": "pro"}).event
    'signup'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    _field_names = model_validator(mode="before")(check_field_names)

    event_id: Annotated[uuid.UUID | None, BeforeValidator(check_unicode)] = Field(
        default=None,
        description="The event's identity; derived from its content when absent.",
    )
    event: Name = Field(description="The event's name, 1-200 characters.")
    user_id: Name = Field(description="Who did it, 1-200 characters.")
    timestamp: IsoDateTime | None = Field(
        default=None,
        description="ISO 8601; naive means UTC; absent means when the server received it.",
    )
    properties: dict[str, Any] | None = Field(
        default=None, description="A JSON object of at most 32 KiB."
    )

    @field_validator("timestamp")
    @classmethod
    def _timestamp_is_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else check_timestamp(value)

    @field_validator("properties")
    @classmethod
    def _properties_fit(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_properties(value)
        return value


class EventBatch(BaseModel):
    """The body of ``POST /v1/events``."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event]
    sent_at: IsoDateTime | None = Field(
        default=None,
        description="The sender's clock when it sent the batch; corrects client clock skew.",
    )


class RejectedEvent(BaseModel):
    """One event of a batch that was not accepted, with every reason."""

    index: int
    errors: list[str]


class IngestResult(BaseModel):
    """The ``202`` answer of ``POST /v1/events``."""

    accepted: int
    rejected: list[RejectedEvent] = Field(default_factory=list)


def _problems(detail: Any) -> list[str]:
    """Each problem an error's detail names, as sentences (a mapping: ``key: value``)."""
    if detail is None:
        return []
    if isinstance(detail, str):
        return [detail]
    if isinstance(detail, Mapping):
        return [f"{key}: {value}" for key, value in detail.items()]
    if isinstance(detail, list | tuple):
        return [str(item) for item in detail]
    return [str(detail)]


class ErrorBody(BaseModel):
    """Every error answer of the API, whatever its status: one shape.

    ``detail`` is always one sentence, ``errors`` every problem on its own (one item when there
    is one problem; ``detail`` is then the same sentence).

    >>> ErrorBody.of("invalid_request", ["since: bad", "periods: too many"]).model_dump()
    {'error': 'invalid_request', 'detail': 'since: bad; periods: too many', \
'errors': ['since: bad', 'periods: too many']}
    """

    error: str = Field(description="A short machine-readable code, e.g. `invalid_request`")
    detail: str = Field(description="What went wrong, one human sentence")
    errors: list[str] = Field(
        default_factory=list, description="Each problem on its own (the parts of `detail`)"
    )

    @field_validator("detail", mode="before")
    @classmethod
    def _one_sentence(cls, value: Any) -> str:
        # An answer of evana 0.1.0 may carry a list (or an object) here: read it as one line.
        return value if isinstance(value, str) else "; ".join(_problems(value))

    @classmethod
    def of(cls, error: str, detail: Any) -> ErrorBody:
        """The answer for ``error`` with ``detail`` given as a sentence, a list or a mapping."""
        problems = _problems(detail) or [error.replace("_", " ")]
        return cls(error=error, detail="; ".join(problems), errors=problems)


class UserErasure(BaseModel):
    """The answer of ``DELETE /v1/users/{user_id}``: the user's events are gone."""

    user_id: str
    events_deleted: int


class DayValue(BaseModel):
    """Distinct users on (or in the window ending on) one day."""

    date: dt.date
    users: int


class ActiveUsers(BaseModel):
    """DAU, WAU or MAU: one row per day of [since, until], zero days included."""

    since: dt.date
    until: dt.date
    series: list[DayValue]


class EventCount(BaseModel):
    """One event name's number of events and distinct users."""

    event: str
    count: int
    users: int


class TopEvents(BaseModel):
    """Event names by number of events (then name), with distinct users."""

    since: dt.date
    until: dt.date
    events: list[EventCount]


class Cohort(BaseModel):
    """Users whose first (start) event fell in one period, and how many came back after k periods.

    ``retained[k]`` is ``None`` when period cohort+k starts after ``until``.
    """

    cohort: dt.date
    size: int
    retained: list[int | None]


class Retention(BaseModel):
    """First-time N-period retention cohorts."""

    period: Period
    since: dt.date
    until: dt.date
    cohorts: list[Cohort]


KeyScope = Literal["ingest", "read", "admin"]


class NewKey(BaseModel):
    """The body of ``POST /v1/keys``: the scope of the key to make, and a label."""

    model_config = ConfigDict(extra="forbid")

    scope: KeyScope
    name: Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH)] | None = None


class CreatedKey(BaseModel):
    """The ``201`` answer of ``POST /v1/keys``: the only time the key's text is shown."""

    key_id: str
    key: str
    scope: KeyScope
    name: str | None
    created_at: dt.datetime


class KeyInfo(BaseModel):
    """One API key as listed: never its secret."""

    key_id: str
    name: str | None
    scope: KeyScope
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class KeyList(BaseModel):
    """The answer of ``GET /v1/keys``: every key, oldest first, revoked ones included."""

    keys: list[KeyInfo]
