"""The queue seam: the API publishes batches; a consumer writes them to storage."""

from ._base import Batch, BatchHandler, EventQueue, batch_id
from ._inprocess import InProcessQueue
from ._jetstream import Names
from ._nats import Backlog, NatsQueue

__all__ = [
    "Backlog",
    "Batch",
    "BatchHandler",
    "EventQueue",
    "InProcessQueue",
    "Names",
    "NatsQueue",
    "batch_id",
]
