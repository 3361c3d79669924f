"""Prometheus metrics of one process (API or worker), on a registry of its own.

Each app and each worker makes its own :class:`Metrics`, never the library's global registry,
so tests that build many apps never collide and two apps in one process never mix counts.
Every process exposes every series; those another role updates simply stay at zero:

=====================================  ======================================================
series                                 updated by
=====================================  ======================================================
``evana_events_accepted_total``        API: events made durable (answered 202)
``evana_events_rejected_total``        API: events refused by validation
``evana_batches_refused_total``        API: batches answered 503 (nothing accepted)
``evana_messages_published_total``     API: JetStream messages published (a batch may be split)
``evana_publish_seconds``              API: time to make a batch durable
``evana_requests_rate_limited_total``  API: requests answered 429 (a key over its rate limit)
``evana_events_inserted_total``        writer (worker; the API in embedded mode): new events
``evana_events_duplicates_total``      writer: events that were stored already
``evana_write_seconds``                writer: one write (one transaction of grouped batches)
``evana_retries_total``                worker: messages scheduled for redelivery after a failure
``evana_messages_dead_lettered_total`` worker: messages (or parts of them) sent to the DLQ
``evana_events_dead_lettered_total``   worker: events sent to the DLQ
``evana_queue_lag_messages``           worker, API: messages waiting in the stream for a worker
``evana_queue_unacked_messages``       worker, API: messages delivered or waiting out a retry delay
``evana_queue_dead_letters``           API: entries in the dead-letter stream
``evana_workers_consuming``            API: 1 while some worker consumes the stream, else 0
``evana_database_file_missing``        API (embedded): 1 once the SQLite file opened is gone
=====================================  ======================================================

The API's queue gauges are updated by its readiness checks (``/readyz`` and one every 10 s).
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters, histograms and gauges of one process.

    >>> metrics = Metrics()
    >>> metrics.events_accepted.inc(3)
    >>> b"evana_events_accepted_total 3.0" in metrics.render()
    True
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_accepted = Counter(
            "evana_events_accepted", "Events made durable by the API", registry=r
        )
        self.events_rejected = Counter(
            "evana_events_rejected", "Events refused by validation", registry=r
        )
        self.batches_refused = Counter(
            "evana_batches_refused", "Batches answered 503: nothing accepted", registry=r
        )
        self.messages_published = Counter(
            "evana_messages_published", "JetStream messages published", registry=r
        )
        self.publish_seconds = Histogram(
            "evana_publish_seconds", "Time to make a batch durable", buckets=_SECONDS, registry=r
        )
        self.requests_rate_limited = Counter(
            "evana_requests_rate_limited",
            "Requests answered 429: a key over its rate limit",
            registry=r,
        )
        self.events_inserted = Counter("evana_events_inserted", "Events newly stored", registry=r)
        self.events_duplicates = Counter(
            "evana_events_duplicates", "Events that were stored already", registry=r
        )
        self.write_seconds = Histogram(
            "evana_write_seconds", "Time of one database write", buckets=_SECONDS, registry=r
        )
        self.retries = Counter(
            "evana_retries", "Messages scheduled for redelivery after a failure", registry=r
        )
        self.messages_dead_lettered = Counter(
            "evana_messages_dead_lettered", "Messages sent to the dead-letter queue", registry=r
        )
        self.events_dead_lettered = Counter(
            "evana_events_dead_lettered", "Events sent to the dead-letter queue", registry=r
        )
        self.queue_lag = Gauge(
            "evana_queue_lag_messages", "Messages waiting in the stream", registry=r
        )
        self.queue_unacked = Gauge(
            "evana_queue_unacked_messages",
            "Messages delivered to workers or waiting out a retry delay",
            registry=r,
        )
        self.queue_dead_letters = Gauge(
            "evana_queue_dead_letters", "Entries in the dead-letter stream", registry=r
        )
        self.workers_consuming = Gauge(
            "evana_workers_consuming",
            "1 while some worker consumes the ingest stream, 0 when none does",
            registry=r,
        )
        self.database_file_missing = Gauge(
            "evana_database_file_missing",
            "1 once the SQLite file the server opened is deleted or replaced",
            registry=r,
        )

    def render(self) -> bytes:
        """The text exposition format of every series."""
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "0.0.0.0") -> WSGIServer:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread; ``shutdown()`` stops it."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
