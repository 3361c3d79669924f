"""One contract, every transport: httpx sync and async against a real socket, and the mock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

import pytest

from evana.client import (
    AsyncHTTPTransport,
    AsyncTransport,
    HTTPTransport,
    MockTransport,
    Request,
    Response,
    Transport,
)
from evana.errors import TransportError
from tests._services import free_port

from .conftest import Sink

Send = Callable[[Request], Response]


def echo(request: Request) -> Response:
    """What the sink's /echo does, as a MockTransport handler."""
    if request.path == "/echo/down":
        raise TransportError("connection refused")
    query = "&".join(f"{k}={v}" for k, v in (request.params or {}).items())
    body = {
        "method": request.method,
        "path": request.path,
        "query": query,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "content": (request.content or b"").decode("latin-1"),
    }
    return Response(200, {"X-Echo": "yes"}, json.dumps(body).encode())


def _sync(transport: Transport) -> Send:
    return transport.handle_request


def _async(transport: AsyncTransport) -> Send:
    return lambda request: asyncio.run(transport.handle_async_request(request))


@pytest.fixture(params=["http", "async-http", "mock", "async-mock"])
def transports(request: pytest.FixtureRequest, sink: Sink) -> Iterator[tuple[Send, Send]]:
    """(send to a live server, send to where nothing answers) for one implementation."""
    down_url = f"http://127.0.0.1:{free_port()}"
    kind = request.param
    if kind == "http":
        live, dead = HTTPTransport(sink.url), HTTPTransport(down_url, timeout=2)
        yield _sync(live), _sync(dead)
        live.close()
        dead.close()
    elif kind == "async-http":
        # A new transport per call: an httpx.AsyncClient belongs to one event loop.
        yield (
            lambda r: asyncio.run(_once(AsyncHTTPTransport(sink.url), r)),
            lambda r: asyncio.run(_once(AsyncHTTPTransport(down_url, timeout=2), r)),
        )
    else:
        mock = MockTransport(echo)
        send = _sync(mock) if kind == "mock" else _async(mock)
        yield send, lambda r: send(Request(r.method, "/echo/down", r.headers))


async def _once(transport: AsyncHTTPTransport, request: Request) -> Response:
    try:
        return await transport.handle_async_request(request)
    finally:
        await transport.aclose()


def test_a_request_arrives_as_sent_and_the_answer_comes_back(
    transports: tuple[Send, Send],
) -> None:
    send, _ = transports
    answer = send(Request("GET", "/echo", {"X-API-Key": "k"}, params={"since": "2026-11-01"}))
    assert answer.status_code == 200
    assert answer.headers["x-echo"] == "yes"  # header names in lower case
    seen = json.loads(answer.content)
    assert (seen["method"], seen["path"]) == ("GET", "/echo")
    assert parse_qs(seen["query"]) == {"since": ["2026-11-01"]}
    assert seen["headers"]["x-api-key"] == "k"


def test_a_body_arrives_byte_for_byte(transports: tuple[Send, Send]) -> None:
    send, _ = transports
    body = bytes(range(256)) * 4
    answer = send(Request("POST", "/echo", {"Content-Encoding": "gzip"}, content=body))
    seen = json.loads(answer.content)
    assert seen["method"] == "POST"
    assert seen["content"].encode("latin-1") == body
    assert seen["headers"]["content-encoding"] == "gzip"


def test_nothing_answering_is_a_transport_error(transports: tuple[Send, Send]) -> None:
    _, send_to_nobody = transports
    with pytest.raises(TransportError):
        send_to_nobody(Request("GET", "/echo"))


def test_error_statuses_are_answers_not_exceptions(sink: Sink) -> None:
    sink.script(503, {"error": "unavailable"}, {"Retry-After": "2"})
    transport = HTTPTransport(sink.url)
    try:
        answer = transport.handle_request(Request("POST", "/v1/events", content=b"{}"))
    finally:
        transport.close()
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert json.loads(answer.content) == {"error": "unavailable"}


def test_the_mock_records_requests_and_fits_both_protocols() -> None:
    mock = MockTransport(echo)
    mock.handle_request(Request("GET", "/echo"))
    asyncio.run(mock.handle_async_request(Request("GET", "/echo")))
    assert [r.path for r in mock.requests] == ["/echo", "/echo"]
    assert isinstance(mock, Transport)
    assert isinstance(mock, AsyncTransport)
    http = HTTPTransport("http://x")
    assert isinstance(http, Transport)
    assert not isinstance(http, AsyncTransport)
    http.close()
