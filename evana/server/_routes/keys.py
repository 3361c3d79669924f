"""``/v1/keys``: create, list and revoke API keys over the API (admin scope).

The same service as ``evana keys`` without ``--url``; the dashboard and ``evana keys --url``
use these routes. A revoked key is refused on its next request by every API process, since
keys are looked up in the database on each request (see :meth:`KeyService.revoke`).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from evana.schema import CreatedKey, ErrorBody, KeyList, NewKey
from evana.server._auth import require
from evana.server._errors import BAD_BODY, ERROR_RESPONSES
from evana.server._keys import key_info
from evana.server._state import AppState, get_state
from evana.server._storage import KeyRecord

__all__ = ["router"]

log = logging.getLogger("evana.api")

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses={**ERROR_RESPONSES, **BAD_BODY})

Admin = Annotated[KeyRecord, Depends(require("admin"))]
State = Annotated[AppState, Depends(get_state)]
KeyId = Annotated[
    str, Path(min_length=1, max_length=64, description="The key's id (`key_id`), never the key")
]


@router.post(
    "",
    response_model=CreatedKey,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
)
def create_key(body: NewKey, state: State, admin: Admin) -> CreatedKey:
    """Make a key of `scope` (`ingest`, `read` or `admin`); `key` is shown in this answer only."""
    created = state.keys.create(body.scope, body.name or "")
    log.info(
        "msg=key_created key_id=%s scope=%s by=%s",
        created.record.key_id,
        created.record.scope,
        admin.key_id,
    )
    listed = key_info(created.record)
    return CreatedKey(
        key_id=listed.key_id,
        key=created.key,
        scope=listed.scope,
        name=listed.name,
        created_at=listed.created_at,
    )


@router.get(
    "", response_model=KeyList, summary="List API keys", dependencies=[Depends(require("admin"))]
)
def list_keys(state: State) -> KeyList:
    """Every key, oldest first, revoked ones included (`revoked_at` set); never a secret."""
    return KeyList(keys=[key_info(record) for record in state.keys.list()])


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke an API key",
    responses={404: {"model": ErrorBody, "description": "No key with this id"}},
)
def revoke_key(key_id: KeyId, state: State, admin: Admin) -> Response:
    """Revoke a key: its next request is refused (401), on every API process at once.

    Revoking a revoked key answers 204 again; an unknown id is 404.
    """
    record = state.keys.revoke(key_id)
    log.info("msg=key_revoked key_id=%s by=%s", record.key_id, admin.key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
