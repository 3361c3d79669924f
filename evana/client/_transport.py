"""The client's one seam to the network: a request in, a response out, nothing else.

Everything above it (batching, gzip, retries, error mapping) is the same whatever carries the
bytes. :class:`HTTPTransport` / :class:`AsyncHTTPTransport` carry them with httpx;
:class:`MockTransport` answers from a function, for tests of code that uses the SDK (as
``httpx.MockTransport`` does). ``tests/client/test_transport_contract.py`` runs one suite
against all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from evana.errors import TransportError

if TYPE_CHECKING:
    # Imported when a transport is made, not with ``import evana``: httpx's own __init__
    # imports rich, pygments and click whenever they are installed (for its CLI).
    import httpx

__all__ = [
    "AsyncHTTPTransport",
    "AsyncTransport",
    "HTTPTransport",
    "MockTransport",
    "Request",
    "Response",
    "Transport",
]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, relative to the server's base URL."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    content: bytes | None = None
    #: The most seconds this request may wait (to connect, and then for each read), when less
    #: than the transport's own timeouts: what is left of a bounded call.
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP answer; ``headers`` are looked up case-insensitively (keys in lower case)."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""


@runtime_checkable
class Transport(Protocol):
    """Sends a request and returns the answer; raises ``TransportError`` when nothing answered."""

    def handle_request(self, request: Request) -> Response:
        """Send ``request`` and return the server's answer, whatever its status."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class AsyncTransport(Protocol):
    """The asyncio flavour of :class:`Transport`."""

    async def handle_async_request(self, request: Request) -> Response:
        """Send ``request`` and return the server's answer, whatever its status."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _timeout(timeout: float, connect: float) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(timeout, connect=min(timeout, connect))


def _arguments(request: Request, timeout: float, connect: float) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "method": request.method,
        "url": request.path,
        "headers": request.headers,
        "params": request.params,
        "content": request.content,
    }
    if request.timeout is not None and request.timeout < timeout:
        arguments["timeout"] = _timeout(max(request.timeout, 0.001), connect)
    return arguments


def _response(answer: httpx.Response) -> Response:
    headers = {name.lower(): value for name, value in answer.headers.items()}
    return Response(answer.status_code, headers, answer.content)


def _transport_error(request: Request, exc: Exception) -> TransportError:
    kind = type(exc).__name__
    return TransportError(f"{request.method} {request.path}: {kind}: {exc}")


class HTTPTransport:
    """:class:`Transport` over an ``httpx.Client`` (keep-alive, connection pool, thread-safe).

    ``timeout`` bounds each wait on the server (to send, to read); ``connect_timeout`` (default:
    ``timeout``) the wait for a connection, short so that a server that is down is told fast.

    >>> transport = HTTPTransport("http://127.0.0.1:8000", timeout=5, connect_timeout=2)
    >>> transport.close()
    """

    def __init__(
        self, url: str, *, timeout: float = 10.0, connect_timeout: float | None = None
    ) -> None:
        import httpx

        self._http_error = httpx.HTTPError
        self._timeouts = (timeout, timeout if connect_timeout is None else connect_timeout)
        # No redirects: a POST that is redirected would be replayed as a GET without its body.
        self._client = httpx.Client(
            base_url=url, timeout=_timeout(*self._timeouts), follow_redirects=False
        )

    def handle_request(self, request: Request) -> Response:
        """Send ``request``; connection failures and timeouts become ``TransportError``."""
        try:
            answer = self._client.request(**_arguments(request, *self._timeouts))
        except self._http_error as exc:
            raise _transport_error(request, exc) from exc
        return _response(answer)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class AsyncHTTPTransport:
    """:class:`AsyncTransport` over an ``httpx.AsyncClient`` (timeouts as :class:`HTTPTransport`).

    >>> import asyncio
    >>> asyncio.run(AsyncHTTPTransport("http://127.0.0.1:8000").aclose())
    """

    def __init__(
        self, url: str, *, timeout: float = 10.0, connect_timeout: float | None = None
    ) -> None:
        import httpx

        self._http_error = httpx.HTTPError
        self._timeouts = (timeout, timeout if connect_timeout is None else connect_timeout)
        self._client = httpx.AsyncClient(
            base_url=url, timeout=_timeout(*self._timeouts), follow_redirects=False
        )

    async def handle_async_request(self, request: Request) -> Response:
        """Send ``request``; connection failures and timeouts become ``TransportError``."""
        try:
            answer = await self._client.request(**_arguments(request, *self._timeouts))
        except self._http_error as exc:
            raise _transport_error(request, exc) from exc
        return _response(answer)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


class MockTransport:
    """A transport (both flavours) whose answers come from ``handler``; records every request.

    >>> ok = MockTransport(lambda req: Response(202, {}, b'{"accepted": 1, "rejected": []}'))
    >>> ok.handle_request(Request("POST", "/v1/events")).status_code, len(ok.requests)
    (202, 1)
    """

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    def handle_request(self, request: Request) -> Response:
        """Record ``request`` and answer with the handler (which may raise TransportError)."""
        self.requests.append(request)
        answer = self.handler(request)
        headers = {name.lower(): value for name, value in answer.headers.items()}
        return Response(answer.status_code, headers, answer.content)

    async def handle_async_request(self, request: Request) -> Response:
        """Same as :meth:`handle_request`, awaitable."""
        return self.handle_request(request)

    def close(self) -> None:
        """Nothing to release."""

    async def aclose(self) -> None:
        """Nothing to release."""
