"""evana's one exception tree, shared by the client SDK, the server and the CLI.

::

    EvanaError                      every error evana raises on purpose
    ├── ConfigurationError          a setting or argument that cannot work (bad URL, bad option)
    ├── InvalidEventError           an event breaks a rule of the event schema
    ├── QueueFullError              Client(on_full="raise") and its queue is full
    ├── TransportError              the client could not reach the server (DNS, refused, timeout)
    ├── APIError                    an HTTP error answer: ``status_code``, ``error``, ``detail``
    │   ├── InvalidRequestError         400 / 422  the request or its parameters are not valid
    │   ├── AuthenticationError         401        missing, unknown or revoked API key
    │   ├── PermissionDeniedError       403        the key's scope does not allow this
    │   ├── NotFoundError               404
    │   ├── PayloadTooLargeError        413        over the batch limits
    │   ├── RateLimitedError            429        carries ``retry_after``
    │   └── ServiceUnavailableError     503        nothing was accepted; carries ``retry_after``
    ├── StorageError                the database failed
    │   ├── TransientStorageError       worth retrying (unreachable, serialization failure, timeout)
    │   └── PermanentStorageError       retrying cannot help (bad data, schema missing)
    └── QueueError                  the event queue (NATS JetStream or in-process) failed
        └── QueueUnavailableError       not reachable, or no acknowledgement in time

The server raises ``APIError`` subclasses and renders them, in one handler, as
``{"error": <code>, "detail": <detail>}`` with their status; the client SDK turns such answers
back into the same classes, so ``except evana.errors.PermissionDeniedError`` reads the same on
both sides of the wire.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "EvanaError",
    "InvalidEventError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermanentStorageError",
    "PermissionDeniedError",
    "QueueError",
    "QueueFullError",
    "QueueUnavailableError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "StorageError",
    "TransientStorageError",
    "TransportError",
    "error_for_status",
]


class EvanaError(Exception):
    """Root of every error evana raises on purpose."""


class ConfigurationError(EvanaError):
    """A setting or argument that cannot work."""


class InvalidEventError(EvanaError):
    """An event breaks a rule of the event schema; ``errors`` lists each broken rule."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = errors if errors is not None else [message]


class QueueFullError(EvanaError):
    """The client's in-memory queue is full and its policy is ``on_full="raise"``."""


class TransportError(EvanaError):
    """The client could not reach the server (connection refused, DNS, timeout)."""


class APIError(EvanaError):
    """An error answer of the HTTP API.

    ``error`` is a short machine-readable code, ``detail`` a human sentence or a structured list.
    """

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: Any = None,
        *,
        status_code: int | None = None,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail if detail is not None else self.code.replace("_", " ")
        self.error = error or self.code
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code  # type: ignore[misc]  # instance override of the class default
        super().__init__(self._message())

    def _message(self) -> str:
        detail = self.detail
        if isinstance(detail, list):
            detail = "; ".join(str(d) for d in detail[:5]) + ("; …" if len(detail) > 5 else "")
        return f"{self.status_code} {self.error}: {detail}"


class InvalidRequestError(APIError):
    """The request (its body, envelope or query parameters) is not valid."""

    status_code = 422
    code = "invalid_request"


class AuthenticationError(APIError):
    """Missing, unknown or revoked API key."""

    status_code = 401
    code = "unauthorized"


class PermissionDeniedError(APIError):
    """The API key is valid but its scope does not allow the request."""

    status_code = 403
    code = "forbidden"


class NotFoundError(APIError):
    """The requested resource does not exist."""

    status_code = 404
    code = "not_found"


class PayloadTooLargeError(APIError):
    """The batch is over ``EVANA_MAX_BATCH_EVENTS`` or ``EVANA_MAX_BODY_BYTES``."""

    status_code = 413
    code = "payload_too_large"


class _RetryAfterError(APIError):
    def __init__(self, detail: Any = None, *, retry_after: float = 1.0, **kwargs: Any) -> None:
        self.retry_after = retry_after
        headers = kwargs.pop("headers", None) or {}
        headers.setdefault("Retry-After", str(max(1, round(retry_after))))
        super().__init__(detail, headers=headers, **kwargs)


class RateLimitedError(_RetryAfterError):
    """Too many requests for this key; retry after ``retry_after`` seconds."""

    status_code = 429
    code = "rate_limited"


class ServiceUnavailableError(_RetryAfterError):
    """The batch could not be made durable; nothing of it was accepted."""

    status_code = 503
    code = "unavailable"


class StorageError(EvanaError):
    """The database failed."""


class TransientStorageError(StorageError):
    """A database failure worth retrying: unreachable, serialization failure, deadlock, timeout."""


class PermanentStorageError(StorageError):
    """A database failure that retrying cannot fix: the data or the schema is wrong."""


class QueueError(EvanaError):
    """The event queue failed."""


class QueueUnavailableError(QueueError):
    """The queue is not reachable, or did not acknowledge in time."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def error_for_status(
    status_code: int, error: str | None, detail: Any, *, retry_after: float | None = None
) -> APIError:
    """Build the ``APIError`` subclass that matches an HTTP error answer.

    >>> error_for_status(403, "forbidden", "needs scope read").__class__.__name__
    'PermissionDeniedError'
    """
    cls = _BY_STATUS.get(status_code, APIError)
    if issubclass(cls, _RetryAfterError):
        return cls(detail, status_code=status_code, error=error, retry_after=retry_after or 1.0)
    return cls(detail, status_code=status_code, error=error)
