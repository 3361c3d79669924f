"""The package's shape: public names, the one-direction import rule, the exception tree."""

from __future__ import annotations

import subprocess
import sys

import evana
from evana import errors


def test_public_api_snapshot() -> None:
    # Changing what `import evana` offers must be deliberate: update this list with the change.
    # (ruff's RUF022 keeps __all__ sorted.)
    assert set(evana.__all__) == {
        "AsyncClient",
        "Client",
        "ClientMetrics",
        "Event",
        "EvanaError",
        "RetryPolicy",
        "__version__",
        "client",
        "derive_event_id",
        "errors",
        "parse_date",
        "schema",
        "uuid7",
    }


def test_client_public_api_snapshot() -> None:
    import evana.client

    assert set(evana.client.__all__) == {
        "AsyncClient",
        "AsyncHTTPTransport",
        "AsyncPersons",
        "AsyncQuery",
        "AsyncStats",
        "AsyncTransport",
        "Client",
        "ClientKwargs",
        "ClientMetrics",
        "ClientOptions",
        "DateLike",
        "DropCallback",
        "ErrorCallback",
        "HTTPTransport",
        "MockTransport",
        "OnFull",
        "Persons",
        "Query",
        "Request",
        "Response",
        "RetryPolicy",
        "Stats",
        "Transport",
        "parse_date",
    }


def test_import_evana_loads_no_server_or_cli_stack() -> None:
    heavy = [
        "fastapi",
        "sqlalchemy",
        "nats",
        "typer",
        "rich",
        "alembic",
        "psycopg",
        "uvicorn",
        "pyroaring",
        "starlette",
        "msgspec",
    ]
    code = (
        "import sys, evana, evana.schema, evana.errors, evana.client\n"
        f"loaded = [m for m in {heavy!r} if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_error_descends_from_evana_error_and_api_errors_carry_status() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.EvanaError), name
    assert errors.error_for_status(403, "forbidden", "x").status_code == 403
    assert isinstance(
        errors.error_for_status(429, None, "slow", retry_after=7), errors.RateLimitedError
    )
    assert errors.error_for_status(429, None, "slow", retry_after=7).retry_after == 7  # type: ignore[attr-defined]
    assert type(errors.error_for_status(418, "teapot", "x")) is errors.APIError


def test_the_errors_docstring_draws_every_error() -> None:
    assert errors.__doc__ is not None
    for name in errors.__all__:
        if isinstance(getattr(errors, name), type):
            assert name in errors.__doc__, name


def test_uuid7_is_time_ordered() -> None:
    ids = [evana.uuid7() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5000
    assert {i.version for i in ids} == {7}
