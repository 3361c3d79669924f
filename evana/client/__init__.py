"""evana's client SDK: send events with ``Client``/``AsyncClient``, read reports via ``.stats``,
``.query`` (trends, funnels) and ``.persons``.

Only httpx and pydantic are needed. The pieces, one module each: options (``_config``),
event encoding and validation (``_encode``), the bounded queue with dedup (``_queue``), retry
decisions (``_retry``), the HTTP API's requests and answers (``_wire``), the transport seam
(``_transport``), what both clients share (``_core``), counters and callbacks
(``_reporting``), the two clients, person operations (``_identity``), the read API
(``_stats``), the query API (``_query``), persons (``_persons``), filters (``_filters``), report
dates (``_dates``) and process exit/fork hooks (``_lifecycle``).

::

    import evana
    with evana.Client(url="http://127.0.0.1:8000", api_key="...") as client:
        client.track("signup", user_id="u_42", properties={"plan": "pro"})
        client.identify("u_42", anonymous_id="anon_1", set={"plan": "pro"})
        client.flush(timeout=5)
        print(client.stats.dau(since="30d").series[-1].users)
        print(client.query.funnel(["signup", "purchase"], since="30d").steps[-1].conversion)
"""

from ._async_client import AsyncClient
from ._client import Client
from ._config import ClientKwargs, ClientOptions, DropCallback, ErrorCallback, OnFull
from ._dates import DateLike, parse_date
from ._persons import AsyncPersons, Persons
from ._query import AsyncQuery, Query
from ._reporting import ClientMetrics
from ._retry import RetryPolicy
from ._stats import AsyncStats, Stats
from ._transport import (
    AsyncHTTPTransport,
    AsyncTransport,
    HTTPTransport,
    MockTransport,
    Request,
    Response,
    Transport,
)

__all__ = [
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
]
