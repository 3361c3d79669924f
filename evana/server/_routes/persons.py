"""``GET /v1/persons/{id}``: a person by any of its distinct ids (read scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from evana.errors import NotFoundError
from evana.insights import Person
from evana.schema import ErrorBody
from evana.server._auth import require
from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state
from evana.server._storage import read_person

from .users import UserId

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/persons",
    tags=["persons"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require("read"))],
)

State = Annotated[AppState, Depends(get_state)]


@router.get(
    "/{user_id:user_id}",
    response_model=Person,
    summary="A person",
    responses={404: {"model": ErrorBody, "description": "No person has this id"}},
)
def get_person(user_id: UserId, state: State) -> Person:
    """Every distinct id linked to this one, the person's merged properties, and when its
    first and last events happened. 404 for an id never seen (or erased)."""
    record = read_person(state.db, user_id)
    if record is None:
        raise NotFoundError("no person has this distinct id (never seen, or erased)")
    return Person(
        distinct_ids=record.distinct_ids,
        properties=record.properties,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
    )
