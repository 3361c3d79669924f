"""evana: send events, get exact DAU/WAU/MAU, top events and retention.

``import evana`` loads only the client side (httpx and pydantic)::

    import evana
    with evana.Client(url="http://127.0.0.1:8000", api_key="...") as client:
        client.track("signup", user_id="u_42", properties={"plan": "pro"})
"""

from . import client, errors, schema
from ._uuid import uuid7
from ._version import __version__
from .client import AsyncClient, Client, ClientMetrics, RetryPolicy, parse_date
from .errors import EvanaError
from .schema import Event, derive_event_id

__all__ = [
    "AsyncClient",
    "Client",
    "ClientMetrics",
    "EvanaError",
    "Event",
    "RetryPolicy",
    "__version__",
    "client",
    "derive_event_id",
    "errors",
    "parse_date",
    "schema",
    "uuid7",
]
