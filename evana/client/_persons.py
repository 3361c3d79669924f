"""``client.persons``: one person (``GET /v1/persons/{id}``), their linked ids and properties."""

from __future__ import annotations

from urllib.parse import quote

from evana.errors import InvalidRequestError
from evana.insights import Person

from ._stats import AsyncFetch, Fetch

__all__ = ["AsyncPersons", "Persons", "person_path"]


def person_path(distinct_id: str | int) -> str:
    """The API path of a person: the id as one path segment, every reserved character encoded
    and dots too, so that ids like ``"."``, ``".."`` or ``"a/b"`` are never read as a path.

    >>> person_path("auth0|42/b.c")
    '/v1/persons/auth0%7C42%2Fb%2Ec'
    >>> person_path(42)
    '/v1/persons/42'
    """
    if isinstance(distinct_id, bool) or not isinstance(distinct_id, str | int) or distinct_id == "":
        raise InvalidRequestError(
            f"id: a person is looked up by a non-empty distinct id, not {distinct_id!r}",
            error="invalid_request",
        )
    return "/v1/persons/" + quote(str(distinct_id), safe="").replace(".", "%2E")


class Persons:
    """Persons: the distinct ids linked by identify and alias, as one.

    >>> from evana.client import MockTransport, Response, Client
    >>> answer = (b'{"distinct_ids": ["anon_1", "u_42"], "properties": {"plan": "pro"},'
    ...           b' "first_seen": "2026-11-01T09:00:00Z", "last_seen": "2026-11-02T10:00:00Z"}')
    >>> mock = MockTransport(lambda request: Response(200, {}, answer))
    >>> with Client("http://127.0.0.1:8000", "key", transport=mock) as client:
    ...     client.persons.get("u_42").distinct_ids
    ['anon_1', 'u_42']
    """

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def get(self, distinct_id: str | int) -> Person:
        """The person one of whose ids is ``distinct_id``: every linked id, the merged
        properties, first and last seen; ``NotFoundError`` when no event names it."""
        return self._fetch(person_path(distinct_id), {}, Person)


class AsyncPersons:
    """:class:`Persons` for ``AsyncClient``: the same methods, awaited."""

    def __init__(self, fetch: AsyncFetch) -> None:
        self._fetch = fetch

    async def get(self, distinct_id: str | int) -> Person:
        """The person one of whose ids is ``distinct_id``; see :meth:`Persons.get`."""
        return await self._fetch(person_path(distinct_id), {}, Person)
