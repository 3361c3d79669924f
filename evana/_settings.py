"""Settings from flags, environment (``EVANA_*``) and defaults, built only at an entry point."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "DEFAULT_METRICS_PORTS",
    "PRODUCTION_RATE_LIMIT",
    "Settings",
    "check_property_name",
    "metrics_ports",
]

#: Requests per second per key and API process when production mode leaves the limit unset.
#: It counts requests, not events, and is set so that it never caps a batching sender below
#: what a replica sustains: the SDK's batches (500 events) would be 500,000 events a second and
#: ``evana ingest``'s (2,000) two million, where an API replica takes ~100,000. What it stops
#: is a key flooding a replica with small requests (each costs the server a request's work).
PRODUCTION_RATE_LIMIT = 1000.0


#: Where workers serve metrics unless told otherwise: the first free port of these, so up to
#: sixteen workers on one host need no port each (the first takes 9464, as it always did).
DEFAULT_METRICS_PORTS = "9464-9479"

_PORTS = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def metrics_ports(value: str) -> range:
    """The ports an ``EVANA_METRICS_PORT`` value allows, in the order they are tried.

    >>> metrics_ports("9464"), metrics_ports("9464-9466"), metrics_ports("0")
    (range(9464, 9465), range(9464, 9467), range(0, 0))
    """
    match = _PORTS.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a port, a range FIRST-LAST, or 0")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if match.group(2) is None and first == 0:
        return range(0)
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"{value!r}: ports run from 1 to 65535, the first not above the last")
    return range(first, last + 1)


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@")


def check_property_name(name: str) -> str:
    """A property name that can be tracked: 1-200 characters, no control characters.

    >>> check_property_name("plan")
    'plan'
    >>> check_property_name("a\\x1fb")
    Traceback (most recent call last):
    ...
    ValueError: insight property 'a\\x1fb': control characters are not allowed
    """
    if not name or len(name) > 200:
        raise ValueError(f"insight property {name!r}: must be 1-200 characters")
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise ValueError(f"insight property {name!r}: control characters are not allowed")
    if name.startswith("person."):
        raise ValueError(f"insight property {name!r}: only event properties are tracked")
    return name


class Settings(BaseSettings):
    """Every setting of evana; each field reads ``EVANA_<NAME>`` from the environment.

    Build one at the entry point and pass it down; tests build ``Settings(...)`` directly.

    >>> Settings(database_url="sqlite://").embedded
    True
    """

    model_config = SettingsConfigDict(env_prefix="EVANA_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite:///./evana.db",
        description="SQLAlchemy URL: sqlite:///path (embedded) or postgresql+psycopg://…",
    )
    nats_url: str | None = Field(
        default=None, description="NATS server(s); unset means embedded, in-process work."
    )
    nats_subject_prefix: str = Field(
        default="events",
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="Subjects <prefix>.ingest and <prefix>.dlq; streams are named from it.",
    )
    url: str = Field(default="http://127.0.0.1:8000", description="Where the CLI finds the API.")
    api_key: SecretStr | None = Field(default=None, description="The CLI's API key.")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000

    max_batch_events: Annotated[int, Field(ge=1)] = 5000
    max_body_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024

    retry_attempts: Annotated[int, Field(ge=0)] = 5
    retry_base_seconds: Annotated[float, Field(ge=0)] = 3.0

    auto_migrate: bool = Field(
        default=True, description="Apply database migrations when the server or worker starts."
    )
    publish_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        default=5.0, description="How long the API waits for JetStream's ack before a 503."
    )

    nats_connect_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        default=10.0, description="How long a process waits for NATS when it starts."
    )
    nats_duplicate_window_seconds: Annotated[float, Field(gt=0)] = Field(
        default=120.0,
        description="JetStream drops a message whose Nats-Msg-Id it saw this recently.",
    )
    nats_replicas: Annotated[int, Field(ge=1, le=5)] = Field(
        default=1, description="JetStream replicas of evana's streams (3 on a NATS cluster)."
    )
    worker_concurrency: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="Batches a worker writes at the same time."
    )
    worker_fetch_batch: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=64,
        description="Messages a worker fetches at once; a transaction gathers several"
        " fetches, up to EVANA_WORKER_BATCH_EVENTS events.",
    )
    worker_batch_events: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=10_000,
        description="Events a worker gathers from several messages into one transaction.",
    )
    worker_batch_seconds: Annotated[float, Field(ge=0, le=10)] = Field(
        default=0.05,
        description="How long a worker waits for more messages to fill a transaction.",
    )
    worker_ack_wait_seconds: Annotated[float, Field(ge=1)] = Field(
        default=30.0,
        description="How long JetStream waits for a silent worker before redelivering.",
    )
    metrics_port: str = Field(
        default=DEFAULT_METRICS_PORTS,
        description="The worker's Prometheus port: PORT, a range FIRST-LAST (the first free one"
        " is taken, so several workers share a host), or 0 for no metrics server.",
    )

    rate_limit_per_second: Annotated[float, Field(ge=0)] | None = Field(
        default=None,
        description="Requests (of any size) per second each API key may make, per API process:"
        " N processes (replicas, `evana serve --workers N`) admit N times it (0: no limit;"
        f" unset: off in embedded mode, {PRODUCTION_RATE_LIMIT:g} in production mode). Over it:"
        " 429 with Retry-After.",
    )
    rate_limit_burst: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Requests a key may make at once above its rate (unset: twice the rate).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API, comma-separated (`*` for any);"
        " empty: no CORS headers, browsers refuse cross-origin calls.",
    )
    insight_properties: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Event properties of few distinct values (plan, country, browser),"
        " comma-separated, kept per day and value so that insights filtered or broken down by"
        " one of them never read raw events. `evana db upgrade` builds them for stored events.",
    )
    insight_numbers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Numeric event properties (amount, duration), comma-separated, summed per"
        " day so that sum, avg, min, max, median and p90/p95/p99 trends of them never read raw"
        " events.",
    )
    docs_enabled: bool = Field(default=True, description="Serve /docs, /redoc and /openapi.json.")
    metrics_access: Literal["public", "key", "off"] = Field(
        default="public",
        description="The API's /metrics: public (no key), key (a read or admin key), or off (404).",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # One variable, many origins: EVANA_CORS_ORIGINS=https://a.example,https://b.example
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("insight_properties", "insight_numbers", mode="before")
    @classmethod
    def _property_names(cls, value: object) -> object:
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list):
            return value
        stripped = (str(name).strip() for name in names)
        return list(dict.fromkeys(check_property_name(name) for name in stripped if name))

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _port_or_range(cls, value: object) -> str:
        ports = metrics_ports(str(value))  # raises ValueError: pydantic's clear error
        if not ports:
            return "0"
        return str(ports[0]) if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        # "postgresql://" would pick psycopg2, which evana does not ship; psycopg 3 is meant.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value

    @property
    def embedded(self) -> bool:
        """True when no NATS is configured: the API process writes batches itself."""
        return not self.nats_url

    @property
    def nats_servers(self) -> str:
        """``nats_url`` without credentials, for messages, logs and answers.

        A NATS URL may carry a user and password or a token (``nats://TOKEN@host``); either is
        a secret, and errors about NATS reach logs and even ``/readyz``, which needs no key.

        >>> Settings(nats_url="nats://evana:pw@n1:4222, nats://s3cret@n2:4222").nats_servers
        'nats://***@n1:4222,nats://***@n2:4222'
        """
        urls = (self.nats_url or "").split(",")
        return ",".join(_USERINFO.sub(r"\1***@", url.strip()) for url in urls)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is a SQLite file (or memory)."""
        return self.database_url.startswith("sqlite")

    @property
    def rate_limit(self) -> tuple[float, int] | None:
        """(requests per second, burst) per key and process, or None when there is no limit.

        >>> Settings(database_url="sqlite://").rate_limit is None
        True
        >>> Settings(nats_url="nats://n:4222", rate_limit_per_second=5).rate_limit
        (5.0, 10)
        >>> Settings(nats_url="nats://n:4222").rate_limit
        (1000.0, 2000)
        """
        rate = self.rate_limit_per_second
        if rate is None:
            rate = 0.0 if self.embedded else PRODUCTION_RATE_LIMIT
        if rate <= 0:
            return None
        return rate, self.rate_limit_burst or max(1, round(2 * rate))

    def retry_delays(self) -> list[float]:
        """The wait before each retry: base·3^(n-1) for n = 1..attempts (3, 9, 27, 81, 243 s)."""
        return [self.retry_base_seconds * 3**n for n in range(self.retry_attempts)]
