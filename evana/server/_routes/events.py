"""``POST /v1/events``: accept a batch."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from evana.schema import IngestResult
from evana.server._auth import require
from evana.server._body import check_content_type, read_body
from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state

__all__ = ["router"]

router = APIRouter(tags=["events"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/EventBatch"}},
        },
        "description": "A batch of events; may be sent with Content-Encoding: gzip.",
    }
}


@router.post(
    "/v1/events",
    status_code=202,
    response_model=IngestResult,
    summary="Send a batch of events",
    openapi_extra=_BODY,
    responses={
        **ERROR_RESPONSES,
        413: {"model": None, "description": "Over EVANA_MAX_BATCH_EVENTS or EVANA_MAX_BODY_BYTES"},
        408: {"model": None, "description": "The body did not arrive within 60 s"},
        415: {"model": None, "description": "Unsupported Content-Type or Content-Encoding"},
    },
    dependencies=[Depends(require("ingest"))],
)
async def ingest(request: Request, state: Annotated[AppState, Depends(get_state)]) -> IngestResult:
    """Validate a batch; keep its valid events (durably, before answering) and report the rest.

    Each rejected event is listed with its index in the batch and every reason.
    """
    received_at = dt.datetime.now(dt.UTC)  # before the body arrives and waits for validation
    check_content_type(request.headers.get("content-type"))
    # The body's bytes count against the server-wide budget until the batch is answered.
    with state.ingest.bodies.hold() as take:
        body = await read_body(
            request.stream(),
            encoding=request.headers.get("content-encoding"),
            limit=state.settings.max_body_bytes,
            declared=request.headers.get("content-length"),
            take=take,
        )
        return await state.ingest.accept(body, received_at=received_at)
