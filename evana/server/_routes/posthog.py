"""PostHog's capture routes, and the start-up calls posthog-js makes, for its SDKs unchanged.

``/batch``, ``/e``, ``/i/v0/e`` and ``/capture`` (each with or without the trailing slash, as
the SDKs differ) read PostHog's format with :mod:`evana.server._wire.posthog` and publish
through the same durable path as ``POST /v1/events``; ``200 {"status": 1}`` means durable.
``/flags``, ``/decide`` and ``/array/<token>/config`` answer that no flag, survey, recording
or other remote feature is on, so a page loading posthog-js logs no error.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from evana.server._errors import ERROR_RESPONSES
from evana.server._state import AppState, get_state
from evana.server._wire import Decoded, posthog

from ._foreign import receive

__all__ = ["CAPTURE_PATHS", "CORS_PATHS", "CORS_PREFIXES", "router"]

router = APIRouter(tags=["posthog"])

#: Where PostHog's SDKs send events (each also with a trailing slash).
CAPTURE_PATHS = ("/batch", "/e", "/i/v0/e", "/capture")
#: Paths answering any origin's CORS preflight (see ``_cors``), and prefixes of more.
CORS_PATHS = (*CAPTURE_PATHS, "/flags", "/decide")
CORS_PREFIXES = ("/array/",)

_CAPTURED = {"status": 1}

#: posthog-js reads these from its remote config: nothing is on, and batches may be gzip-js.
_REMOTE_CONFIG: dict[str, Any] = {
    "supportedCompression": ["gzip", "gzip-js"],
    "hasFeatureFlags": False,
    "autocapture_opt_out": False,
    "autocaptureExceptions": False,
    "captureDeadClicks": False,
    "capturePerformance": False,
    "defaultIdentifiedOnly": True,
    "elementsChainAsString": True,
    "errorTracking": {"autocaptureExceptions": False, "suppressionRules": []},
    "heatmaps": False,
    "sessionRecording": False,
    "siteApps": [],
    "surveys": False,
    "toolbarParams": {},
}


async def capture(request: Request, state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    """Receive PostHog events (any body shape and compression its SDKs send)."""
    query = dict(request.query_params)
    limit = max(state.settings.max_body_bytes, posthog.MIN_BODY_LIMIT)
    # The image-pixel fallback (GET) sends its body as ?data=, a form.
    content_type = (
        "application/x-www-form-urlencoded"
        if request.method == "GET"
        else request.headers.get("content-type")
    )

    async def decode(body: bytes, take: Callable[[int], None], received_at: dt.datetime) -> Decoded:
        text = await posthog.unwrap(
            body, content_type=content_type, query=query, limit=limit, take=take
        )
        # Parsing and mapping in the ingest service's validation threads, as /v1/events does.
        return await state.ingest.gate.run(posthog.parse, text, query, received_at)

    await receive(
        request,
        state,
        source="posthog",
        limit=limit,
        key_hint="project key (api_key or token)",
        decode=decode,
    )
    return JSONResponse(_CAPTURED)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": 'Durable: `{"status": 1}`'},
    400: {"description": "Nothing in the body can be read"},
    **ERROR_RESPONSES,
    413: {"description": "Over the size limit (20 MB, or EVANA_MAX_BODY_BYTES if larger)"},
}

for _path in CAPTURE_PATHS:
    for _variant in (_path, f"{_path}/"):
        # GET is the image-pixel fallback of old posthog-js releases: the body as ?data=.
        for _method in ("POST", "GET"):
            router.add_api_route(
                _variant,
                capture,
                methods=[_method],
                summary=f"PostHog capture ({_path})",
                responses=_RESPONSES,
                include_in_schema=_variant == _path,
                response_class=JSONResponse,
            )


def _flags_answer() -> dict[str, Any]:
    return {
        "flags": {},
        "featureFlags": {},
        "featureFlagPayloads": {},
        "errorsWhileComputingFlags": False,
        "quotaLimited": [],
        "requestId": str(uuid.uuid4()),
    }


async def flags() -> JSONResponse:
    """posthog-js's feature flags call: no flag is defined."""
    return JSONResponse(_flags_answer())


async def decide() -> JSONResponse:
    """Older posthog-js releases' start-up call: no flag, and no remote feature on."""
    return JSONResponse(
        {**_REMOTE_CONFIG, **_flags_answer(), "config": {}, "isAuthenticated": False}
    )


async def remote_config(token: str) -> JSONResponse:
    """posthog-js's remote config: nothing on."""
    return JSONResponse({"token": token, **_REMOTE_CONFIG})


async def remote_config_js(token: str) -> Response:
    """The same remote config, as the script posthog-js may load instead of the JSON."""
    config = json.dumps({"token": token, **_REMOTE_CONFIG})
    script = (
        "(function(){window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};"
        f"window._POSTHOG_REMOTE_CONFIG[{json.dumps(token)}]={{config:{config},siteApps:[]}};"
        "})();"
    )
    return Response(script, media_type="application/javascript")


for _name, _answer, _summary in (
    ("/flags", flags, "PostHog feature flags (none)"),
    ("/decide", decide, "PostHog start-up configuration (nothing on)"),
):
    for _path in (_name, f"{_name}/"):
        for _method in ("POST", "GET"):
            router.add_api_route(
                _path,
                _answer,
                methods=[_method],
                include_in_schema=_path == _name,
                summary=_summary,
            )
router.add_api_route(
    "/array/{token}/config", remote_config, methods=["GET"], summary="PostHog remote config"
)
router.add_api_route(
    "/array/{token}/config.js", remote_config_js, methods=["GET"], include_in_schema=False
)
