"""The ingest service: validate a raw batch body, publish the valid events, report the rest."""

from __future__ import annotations

import datetime as dt
import logging

from evana.errors import (
    InvalidRequestError,
    PayloadTooLargeError,
    QueueError,
    ServiceUnavailableError,
    StorageError,
    TransientStorageError,
)
from evana.schema import IngestResult

from ._batch import EnvelopeError, NormalizedEvent, ValidatedBatch, validate_batch
from ._cost import BodyBudget, ValidationGate, too_many_events
from ._metrics import Metrics
from ._queue import Batch, EventQueue

__all__ = ["IngestService"]

log = logging.getLogger("evana.ingest")


class IngestService:
    """Turns request bodies into durable batches."""

    def __init__(
        self,
        queue: EventQueue,
        *,
        max_batch_events: int,
        retry_after: float = 2.0,
        metrics: Metrics | None = None,
        max_body_bytes: int = 10 * 1024 * 1024,
        validation_slots: int = 2,
    ):
        self.queue = queue
        self.max_batch_events = max_batch_events
        self.retry_after = retry_after
        self.metrics = metrics if metrics is not None else Metrics()
        #: Bodies buffered at once: four full-size batches (requests past it get a 503).
        self.bodies = BodyBudget(4 * max_body_bytes)
        # Validation holds the GIL: more threads than cores would only queue inside Python.
        self.gate = ValidationGate(validation_slots)

    async def accept(self, body: bytes, *, received_at: dt.datetime | None = None) -> IngestResult:
        """Validate ``body``, make its valid events durable, and say what was accepted.

        ``received_at`` is when the request arrived (default: now); validation may wait for a
        free slot, and the wait must not count as clock skew.

        Raises InvalidRequestError (not a batch), PayloadTooLargeError (too many events) or
        ServiceUnavailableError (could not be made durable: nothing was accepted).
        """
        received_at = received_at or dt.datetime.now(dt.UTC)
        batch = await self.gate.run(self._validate, body, received_at)
        self.metrics.events_rejected.inc(len(batch.rejected))
        await self.publish(batch.events)
        return IngestResult(accepted=len(batch.events), rejected=batch.rejected)

    def _validate(self, body: bytes, received_at: dt.datetime) -> ValidatedBatch:
        # Counted first, cheaply: a batch over the limit is refused before any event is built.
        if too_many_events(body, self.max_batch_events):
            raise PayloadTooLargeError(
                f"the batch has more than {self.max_batch_events} events;"
                f" EVANA_MAX_BATCH_EVENTS is {self.max_batch_events}: split it"
            )
        try:
            batch = validate_batch(body, received_at=received_at)
        except EnvelopeError as exc:
            raise InvalidRequestError(exc.errors, error="invalid_batch") from None
        if batch.size > self.max_batch_events:  # the count missed nothing, but be sure
            raise PayloadTooLargeError(
                f"the batch has {batch.size} events; EVANA_MAX_BATCH_EVENTS is"
                f" {self.max_batch_events}: split it"
            )
        return batch

    async def publish(self, events: list[NormalizedEvent]) -> None:
        """Make validated ``events`` durable, or raise ServiceUnavailableError (503: none of
        them was accepted) or StorageError. Every ingest route ends here."""
        if not events:
            return
        try:
            await self.queue.publish(Batch.of(events))
        except (QueueError, TransientStorageError) as exc:
            self.metrics.batches_refused.inc()
            log.warning("batch refused, not durable: %s", exc)
            raise ServiceUnavailableError(
                f"the batch could not be made durable, nothing was accepted: {exc}",
                retry_after=self.retry_after,
            ) from None
        except StorageError as exc:
            self.metrics.batches_refused.inc()
            log.error("batch refused by the database: %s", exc)
            raise
        self.metrics.events_accepted.inc(len(events))
