"""``/v1/dlq``: list, show and replay dead letters over HTTP (admin scope).

The dead-letter queue lives in NATS, so only production mode has one; embedded mode writes
each batch before answering (a failure is a 503 to the sender), and its list is empty.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from evana.errors import NotFoundError
from evana.schema import ErrorBody
from evana.server._auth import require
from evana.server._dlq import DeadLetterQueue
from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/dlq",
    tags=["dlq"],
    responses={
        **ERROR_RESPONSES,
        404: {"model": ErrorBody, "description": "No such entry, or embedded mode (no DLQ)"},
    },
    dependencies=[Depends(require("admin"))],
)

State = Annotated[AppState, Depends(get_state)]
EntryId = Annotated[int, Path(ge=1, description="The entry's id (its sequence number)")]


def _embedded(state: AppState) -> None:
    if state.settings.embedded:
        raise NotFoundError("embedded mode has no dead-letter queue (it lives in NATS)")


@router.get("", summary="List dead letters")
async def list_entries(state: State) -> dict[str, Any]:
    """`{"enabled": bool, "entries": [{"id", "events", "error", "attempts", "failed_at"}]}`,
    oldest first; `enabled` is false in embedded mode, which has no dead-letter queue."""
    if state.settings.embedded:
        return {"enabled": False, "entries": []}
    async with DeadLetterQueue(state.settings) as dlq:
        entries = await dlq.entries()
    return {"enabled": True, "entries": [entry.summary() for entry in entries]}


_MISSING: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No entry with this id, or embedded mode (no DLQ)"}
}


@router.get("/{entry_id}", summary="Show a dead letter", responses=_MISSING)
async def show_entry(entry_id: EntryId, state: State) -> dict[str, Any]:
    """One entry with its events (`data`, in the shape `POST /v1/events` takes)."""
    _embedded(state)
    async with DeadLetterQueue(state.settings) as dlq:
        return (await dlq.show(entry_id)).details()


@router.post("/{entry_id}/replay", summary="Replay a dead letter", responses=_MISSING)
async def replay_entry(entry_id: EntryId, state: State) -> dict[str, Any]:
    """Send the entry's events to be written again, then delete it. Events keep their ids, so
    a replay never counts an event twice."""
    _embedded(state)
    async with DeadLetterQueue(state.settings) as dlq:
        return {"replayed": (await dlq.replay(entry_id)).summary()}
