"""Messages of a foreign format → validated evana events → the one durable ingest path.

Validation is the event contract's (``validate_events``) on the mapped event dicts; publishing
is ``IngestService.publish``, the very call ``POST /v1/events`` ends in, so the queue, the
worker, the dead-letter queue and their drills cover these routes unchanged. An invalid message
is dropped on its own, counted in ``evana_events_rejected_total`` and logged with its reason;
the rest are kept.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from evana.schema import RejectedEvent
from evana.server._batch import NormalizedEvent, validate_events
from evana.server._ingest import IngestService

from ._message import Decoded, Message

__all__ = ["Accepted", "accept"]

log = logging.getLogger("evana.ingest")

#: Log lines per request for dropped messages; a request of 10,000 bad ones logs a summary.
_LOGGED_DROPS = 10


@dataclass(frozen=True, slots=True)
class Accepted:
    """What became of a request's messages."""

    accepted: int
    rejected: list[RejectedEvent]


def validate(
    messages: Sequence[Message], received_at: dt.datetime
) -> tuple[list[NormalizedEvent], list[RejectedEvent]]:
    """Judge mapped messages by the event contract; indexes in the answer are the request's.

    Messages are judged in groups that share a sender clock, since a clock corrects every event
    judged with it (one group in practice: an SDK stamps a whole batch at once). A message
    without a clock (a backfill, no ``sent_at``) is never corrected.
    """
    groups: dict[dt.datetime | None, list[Message]] = {}
    for message in messages:
        groups.setdefault(message.sent_at, []).append(message)
    events: list[NormalizedEvent] = []
    rejected: list[RejectedEvent] = []
    for sent_at, group in groups.items():
        batch = validate_events(
            [m.event for m in group],
            received_at=received_at,
            sent_at=sent_at,
            correct_skew=sent_at is not None,
        )
        events.extend(batch.events)
        rejected.extend(
            RejectedEvent(index=group[r.index].index, errors=r.errors) for r in batch.rejected
        )
    return events, rejected


async def accept(
    ingest: IngestService, decoded: Decoded, *, source: str, received_at: dt.datetime
) -> Accepted:
    """Validate ``decoded``'s messages, make the valid ones durable, report the rest.

    Raises ServiceUnavailableError (503) when they cannot be made durable. Batches over
    ``EVANA_MAX_BATCH_EVENTS`` (a 20 MB PostHog backfill can be) are published in parts;
    should a later part fail, the 503 makes the SDK resend the whole request, and the parts
    already stored are recognised by their event ids.
    """
    # In the ingest service's validation threads, as /v1/events does: CPU stays bounded.
    events, rejected = await ingest.gate.run(validate, decoded.messages, received_at)
    rejected.extend(RejectedEvent(index=d.index, errors=[d.reason]) for d in decoded.dropped)
    rejected.sort(key=lambda r: r.index)
    if rejected:
        ingest.metrics.events_rejected.inc(len(rejected))
        for item in rejected[:_LOGGED_DROPS]:
            log.warning(
                "msg=event_dropped source=%s index=%d reason=%r",
                source,
                item.index,
                "; ".join(item.errors),
            )
        if len(rejected) > _LOGGED_DROPS:
            log.warning(
                "msg=events_dropped source=%s count=%d (first %d logged)",
                source,
                len(rejected),
                _LOGGED_DROPS,
            )
    size = ingest.max_batch_events
    for start in range(0, len(events), size):
        await ingest.publish(events[start : start + size])
    return Accepted(len(events), rejected)
