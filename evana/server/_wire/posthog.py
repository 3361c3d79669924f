"""PostHog's capture format (``/batch``, ``/e``, ``/i/v0/e``, ``/capture``) as evana events.

Bodies come as posthog-js sends them (a JSON array, maybe gzip by magic bytes, base64 or lz64
per ``?compression=``, or a form field ``data=``), as the server SDKs send them
(``{"api_key", "batch", "sent_at", "historical_migration"}``), or as one event. Mapping, as
PostHog's capture service does it:

- ``event`` → ``event``; ``distinct_id`` (or ``$distinct_id``, or ``properties.distinct_id``;
  numbers as text) → ``user_id``; ``uuid`` → ``event_id`` (a non-UUID as its UUIDv5);
  ``properties`` → ``properties`` minus the ``token`` (the key is authentication, not data); a
  top-level ``$set`` / ``$set_once`` moves into the properties, where PostHog keeps it.
- Time: a ``timestamp`` is corrected by the sender's ``sent_at`` (the body's, the event's, or
  the ``sent_at`` / ``_`` milliseconds of posthog-js's query string); without a timestamp,
  ``offset`` means that many milliseconds before receipt; without either, the receive time.
  ``historical_migration`` and ``properties.$ignore_sent_at`` turn the correction off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ._decode import (
    GZIP_MAGIC,
    bad_body,
    form_fields,
    gunzip,
    json_body,
    looks_like_json,
    unbase64,
    unlz64,
)
from ._message import Decoded, Dropped, Message, event_id, instant, text_id

__all__ = ["MIN_BODY_LIMIT", "decode", "read"]

#: PostHog's capture service takes batches of 20 MB; so does evana, whatever its own limit.
MIN_BODY_LIMIT = 20 * 1024 * 1024

_KEY_FIELDS = ("api_key", "token", "$token")


async def decode(
    body: bytes,
    *,
    content_type: str | None,
    query: Mapping[str, str],
    limit: int,
    take: Callable[[int], None] | None = None,
) -> Any:
    """Undo the request's encodings and parse its JSON (400 when nothing can be read)."""
    return json_body(
        await unwrap(body, content_type=content_type, query=query, limit=limit, take=take)
    )


async def unwrap(
    body: bytes,
    *,
    content_type: str | None,
    query: Mapping[str, str],
    limit: int,
    take: Callable[[int], None] | None = None,
) -> bytes:
    """Undo the request's encodings (form, lz64, base64, gzip): the JSON text, still unparsed.

    ``body`` has been read under ``limit`` already (and inflated if it said
    ``Content-Encoding: gzip``); whatever is still compressed inflates under ``limit`` too,
    charged to the server's body budget by ``take``.
    """
    compression = (query.get("compression") or "").strip().lower()
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded" or body.startswith(b"data="):
        fields = form_fields(body)
        if "data" not in fields:
            raise bad_body("the form body has no data field")
        compression = (fields.get("compression") or compression).strip().lower()
        body = fields["data"].encode()
    if compression in ("lz64", "lz-string"):
        body = unlz64(body, limit)
    elif compression == "base64" or not (looks_like_json(body) or body.startswith(GZIP_MAGIC)):
        body = unbase64(body)
    if body.startswith(GZIP_MAGIC):  # gzip-js, or gzip without Content-Encoding
        body = await gunzip(body, limit, take)
    return body


def parse(text: bytes, query: Mapping[str, str], received_at: dt.datetime) -> Decoded:
    """:func:`read` of the JSON ``text``: the CPU-heavy half of a request, run off the event loop
    (a 20 MB batch is a few hundred milliseconds of parsing and mapping)."""
    return read(json_body(text), query=query, received_at=received_at)


def read(payload: Any, *, query: Mapping[str, str], received_at: dt.datetime) -> Decoded:
    """Turn a parsed body into messages, and find the key it names (if any).

    >>> now = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
    >>> out = read([{"event": "signup", "distinct_id": 42, "properties": {"token": "k"}}],
    ...            query={}, received_at=now)
    >>> out.key, out.messages[0].event["user_id"], out.messages[0].event["properties"]
    ('k', '42', None)
    """
    envelope: Mapping[str, Any] = {}
    if isinstance(payload, list):
        items = payload
    elif isinstance(payload, Mapping) and isinstance(payload.get("batch"), list):
        envelope, items = payload, payload["batch"]
    elif isinstance(payload, Mapping):
        envelope, items = payload, [payload]
    else:
        raise bad_body("the body is not a PostHog event, batch or list of events")
    historical = envelope.get("historical_migration") is True
    sent_at = instant(envelope.get("sent_at"))
    if sent_at is None:
        sent_at = instant(query.get("sent_at") or query.get("_"))
    out = Decoded(key=_body_key(envelope, items))
    for index, item in enumerate(items):
        if type(item) is not dict:  # parsed JSON: a dict or not an object at all
            out.dropped.append(Dropped(index, "not a JSON object"))
            continue
        clock = None if historical else sent_at
        if not historical and "sent_at" in item:  # posthog-js may stamp each event
            clock = instant(item["sent_at"]) or sent_at
        out.messages.append(_message(index, item, clock, received_at))
    return out


def _body_key(envelope: Mapping[str, Any], items: list[Any]) -> str | None:
    for name in _KEY_FIELDS:
        if isinstance(value := envelope.get(name), str) and value:
            return value
    for item in items:
        if not isinstance(item, Mapping):
            continue
        properties = item.get("properties")
        candidates = [item.get(name) for name in _KEY_FIELDS]
        if isinstance(properties, Mapping):
            candidates.append(properties.get("token"))
        for value in candidates:
            if isinstance(value, str) and value:
                return value
    return None


def _message(
    index: int, item: dict[str, Any], clock: dt.datetime | None, received_at: dt.datetime
) -> Message:
    # The hot loop of the route: plain type tests (no ABC checks) keep it near /v1/events.
    properties: Any = item.get("properties")
    distinct = item.get("distinct_id", item.get("$distinct_id"))
    if type(properties) is dict:
        lifted = [name for name in ("$set", "$set_once") if name in item and name not in properties]
        if lifted or "token" in properties or "$token" in properties:
            properties = {k: v for k, v in properties.items() if k not in ("token", "$token")}
            for name in lifted:
                properties[name] = item[name]
        if distinct is None:
            distinct = properties.get("distinct_id")
        if properties.get("$ignore_sent_at") is True:
            clock = None
    event: dict[str, Any] = {
        "event_id": event_id(item.get("uuid")),
        "event": item.get("event"),
        "user_id": distinct if type(distinct) is str else text_id(distinct),
        "properties": properties or None,
    }
    if (stamp := item.get("timestamp")) is not None:
        event["timestamp"] = stamp
    else:
        clock = None  # nothing to correct: an offset already counts back from receipt
        offset = item.get("offset")
        if isinstance(offset, int | float) and not isinstance(offset, bool) and offset >= 0:
            try:
                event["timestamp"] = (received_at - dt.timedelta(milliseconds=offset)).isoformat()
            except OverflowError:
                event["timestamp"] = "0001-01-01T00:00:00Z"  # validation says it is too early
    return Message(index, event, clock)
