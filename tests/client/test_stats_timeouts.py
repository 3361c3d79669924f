"""``client.stats`` against a server that is down or silent: a clear error within the bound.

Before, a report call against a closed port retried for ~47 s (the retry budget meant for
events in the background), and one against a silent server waited as long.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

import evana
from evana.client import ClientOptions
from evana.errors import ConfigurationError, TransportError

BOUND = 1.5
SLACK = 1.0  # thread start, the last attempt's own timeout rounding, a loaded CI machine


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"  # nothing listens there any more: connections are refused


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    # Listens (the kernel completes the handshake) but never reads nor answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


SERVERS = {"closed port": closed_port, "silent server": silent_server}


@pytest.mark.parametrize("server", SERVERS)
def test_sync_report_calls_end_within_the_bound(server: str) -> None:
    with SERVERS[server]() as url, evana.Client(url, "key", stats_timeout=BOUND) as client:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            client.stats.dau(since="7d")
        took = time.monotonic() - started
    assert took < BOUND + SLACK, took
    message = str(caught.value)
    assert message.startswith(f"GET /v1/stats/dau: no answer from {url} within 1.5 s")
    assert "stats_timeout" in message


@pytest.mark.parametrize("server", SERVERS)
def test_async_report_calls_end_within_the_bound(server: str) -> None:
    async def main(url: str) -> float:
        async with evana.AsyncClient(url, "key", stats_timeout=BOUND) as client:
            started = time.monotonic()
            with pytest.raises(TransportError, match=r"no answer from .* within 1\.5 s"):
                await client.stats.retention(since="4w")
            return time.monotonic() - started

    with SERVERS[server]() as url:
        took = asyncio.run(main(url))
    assert took < BOUND + SLACK, took


def test_a_silent_server_is_tried_more_than_once_within_the_bound() -> None:
    # The bound is for the whole call: with a short per-request timeout there is time to retry.
    with silent_server() as url, evana.Client(url, "key", stats_timeout=2, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(TransportError):
            client.stats.top_events()
        assert time.monotonic() - started < 2 + SLACK


def test_the_defaults_and_their_checks() -> None:
    options = ClientOptions.build("http://127.0.0.1:8000", "key")
    assert (options.connect_timeout, options.timeout, options.stats_timeout) == (3.0, 10.0, 15.0)
    for name in ("connect_timeout", "stats_timeout"):
        with pytest.raises(ConfigurationError, match=name):
            ClientOptions.build("http://127.0.0.1:8000", "key", **{name: -1})
