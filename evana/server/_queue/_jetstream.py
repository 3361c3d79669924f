"""NATS JetStream plumbing: names from the prefix, the connection, the streams and the consumer.

Everything evana keeps in NATS is named from ``EVANA_NATS_SUBJECT_PREFIX`` (dots are not allowed
in stream names, so they become underscores): with the default ``events``,

- stream ``EVENTS`` on ``events.ingest`` — accepted batches; work-queue retention, so a message
  is gone once a worker acknowledged it and the stream *is* the backlog;
- stream ``EVENTS_DLQ`` on ``events.dlq`` — dead letters, kept until replayed or purged;
- key-value bucket ``EVENTS_RETRIES`` — when each failing message first failed (see
  :mod:`._deadletter`);
- durable pull consumer ``worker`` on ``EVENTS``, shared by every worker process.

Both streams use file storage and a duplicate window, so a publish retried with the same
``Nats-Msg-Id`` is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from evana._settings import Settings
from evana.errors import ConfigurationError, QueueUnavailableError
from evana.server._logging import quote

__all__ = ["Names", "connect", "ensure_consumer", "ensure_streams", "unavailable"]

log = logging.getLogger("evana.nats")

#: Room left in a message for its headers (Nats-Msg-Id, the DLQ's error headers).
HEADER_ROOM = 4096

# Dead-letter entries must outlive any sane retry schedule; orphans (a crash between a
# message's last write and its cleanup) expire with the bucket's TTL.
_LEDGER_MIN_TTL = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Names:
    """The subjects, streams, bucket and consumer of one subject prefix.

    >>> Names.of("acme.events").stream, Names.of("acme.events").dlq_subject
    ('ACME_EVENTS', 'acme.events.dlq')
    """

    ingest_subject: str
    dlq_subject: str
    stream: str
    dlq_stream: str
    ledger_bucket: str
    consumer: str = "worker"

    @classmethod
    def of(cls, prefix: str) -> Names:
        """The names for ``prefix`` (``EVANA_NATS_SUBJECT_PREFIX``)."""
        base = prefix.replace(".", "_").upper()
        return cls(
            ingest_subject=f"{prefix}.ingest",
            dlq_subject=f"{prefix}.dlq",
            stream=base,
            dlq_stream=f"{base}_DLQ",
            ledger_bucket=f"{base}_RETRIES",
        )


async def connect(settings: Settings, *, reconnect: bool = True, **callbacks: Any) -> Client:
    """Connect to ``settings.nats_url``, or raise QueueUnavailableError.

    With ``reconnect`` (servers, workers) the client reconnects forever, half a second apart,
    and never buffers while disconnected (``pending_size=0``): a publish during an outage fails
    at once instead of being sent after the API already answered 503. Without it (the CLI) a
    second failed try is final.
    """
    if not settings.nats_url:
        raise ConfigurationError("EVANA_NATS_URL is not set")

    async def on_error(error: Exception) -> None:
        log.debug("msg=nats_error error=%s", quote(error))

    options: dict[str, Any] = {"error_cb": on_error, **callbacks}
    if reconnect:
        options |= {"max_reconnect_attempts": -1, "reconnect_time_wait": 0.5}
    else:
        options |= {"max_reconnect_attempts": 1, "reconnect_time_wait": 0.2}
    nc = Client()
    try:
        await asyncio.wait_for(
            nc.connect(
                # nats-py takes several servers as a list; a comma-separated string fails.
                [url.strip() for url in settings.nats_url.split(",") if url.strip()],
                name="evana",
                connect_timeout=2,
                # A dead peer (half-open TCP) is noticed within ~15 s, not NATS's default 4 min.
                ping_interval=5,
                max_outstanding_pings=3,
                pending_size=0,
                **options,
            ),
            timeout=settings.nats_connect_timeout_seconds,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        cause = nc.last_error or exc
        with contextlib.suppress(nats.errors.Error):
            await nc.close()
        raise QueueUnavailableError(
            f"cannot reach NATS at {settings.nats_servers}: {str(cause) or type(cause).__name__}"
        ) from None
    return nc


def unavailable(error: BaseException, action: str) -> QueueUnavailableError:
    """A NATS failure as the QueueUnavailableError the rest of evana handles."""
    if isinstance(error, TimeoutError):
        reason = "no answer in time"
    elif isinstance(error, nats.js.errors.NoStreamResponseError | nats.errors.NoRespondersError):
        # On a cluster this is also what a publish gets while the stream has no leader (one
        # being elected after its node died, or no quorum): say so, not only "enable it".
        reason = (
            "no JetStream stream answers (JetStream is off, or the stream has no leader right"
            " now: a NATS cluster electing one or short of quorum)"
        )
    elif isinstance(
        error, nats.errors.OutboundBufferLimitError | nats.errors.ConnectionClosedError
    ):
        reason = "not connected to NATS"
    else:
        reason = str(error) or type(error).__name__
    return QueueUnavailableError(f"{action}: {reason}")


async def ensure_streams(js: JetStreamContext, names: Names, settings: Settings) -> None:
    """Create the ingest and dead-letter streams and the retry ledger unless they exist.

    An existing stream is left as the operator may have tuned it, but it must hold our subject:
    a stream of the same name for other subjects means two installations collide.
    """
    window = settings.nats_duplicate_window_seconds
    common: dict[str, Any] = {
        "storage": StorageType.FILE,
        "num_replicas": settings.nats_replicas,
        "duplicate_window": window,
    }
    await _ensure_stream(
        js,
        StreamConfig(
            name=names.stream,
            subjects=[names.ingest_subject],
            retention=RetentionPolicy.WORK_QUEUE,
            description="evana: accepted event batches waiting for a worker",
            **common,
        ),
    )
    await _ensure_stream(
        js,
        StreamConfig(
            name=names.dlq_stream,
            subjects=[names.dlq_subject],
            retention=RetentionPolicy.LIMITS,
            description="evana: batches that could not be written (evana dlq)",
            **common,
        ),
    )
    schedule = sum(settings.retry_delays()) + settings.worker_ack_wait_seconds
    try:
        await js.key_value(names.ledger_bucket)
    except nats.js.errors.BucketNotFoundError:
        await js.create_key_value(
            bucket=names.ledger_bucket,
            description="evana: first failure time of messages being retried",
            ttl=max(_LEDGER_MIN_TTL, 4 * schedule),
            storage=StorageType.FILE,
            replicas=settings.nats_replicas,
        )


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    assert config.name is not None
    try:
        info = await js.stream_info(config.name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)
        log.info("msg=stream_created stream=%s subjects=%s", config.name, config.subjects)
        return
    if set(info.config.subjects or []) != set(config.subjects or []):
        raise ConfigurationError(
            f"NATS stream {config.name} exists for subjects {info.config.subjects}, not"
            f" {config.subjects}: choose another EVANA_NATS_SUBJECT_PREFIX"
        )


async def ensure_consumer(js: JetStreamContext, names: Names, settings: Settings) -> None:
    """Create (or update the timing of) the durable pull consumer the workers share.

    Acks are explicit; a message is redelivered when a worker naks it (with the retry delay) or
    stays silent for ``worker_ack_wait_seconds`` (a crash). ``max_deliver`` is unlimited: the
    worker, not the server, decides when a message is dead-lettered, so none is dropped silently.

    ``ack_wait`` is independent of the retry schedule: a nak carries its own delay (3 s … 243 s),
    and a long write keeps its messages with ``in_progress()`` every ``ack_wait``/3. So it only
    bounds how long a crashed worker's messages wait, and stays short (30 s).
    """
    config = ConsumerConfig(
        name=names.consumer,
        durable_name=names.consumer,
        description="evana workers",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.worker_ack_wait_seconds,
        max_deliver=-1,
        # Bounds the messages held by workers or waiting out a retry delay: when the database
        # is down, workers stop taking new messages instead of cycling the whole backlog.
        max_ack_pending=20_000,
        filter_subject=names.ingest_subject,
    )
    try:
        info = await js.consumer_info(names.stream, names.consumer)
    except nats.js.errors.NotFoundError:
        await js.add_consumer(names.stream, config)
        return
    if info.config.ack_wait != config.ack_wait:
        await js.add_consumer(names.stream, config)  # the server updates it in place
