"""No user id of an erasure or an export reaches the log of a real ``evana serve``, at any
log level: uvicorn's access log prints each request's path, and its trace level prints each
request's scope (the path decoded), so ``DELETE /v1/users/<id>`` used to leave the id it was
asked to forget in the log.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import httpx
import pytest

from tests._evana import evana_serve

pytestmark = pytest.mark.slow

#: Ids as people have them (an email), and with every character a path or a log line treats
#: specially; each carries a token that must appear nowhere in the output.
USER_IDS = [
    "erased-7f3a1@example.com",
    "exported 7f3a2/with'quotes\"and spaces",
    "zoë-7f3a3/events",
    "plain7f3a4",
]
TOKENS = ["7f3a1", "7f3a2", "7f3a3", "7f3a4", "7f3a5"]


@pytest.mark.parametrize("level", ["trace", "debug", "info", "warning"])
def test_no_erased_or_exported_user_id_reaches_the_log(tmp_path: Path, level: str) -> None:
    with evana_serve(tmp_path, args=["--log-level", level]) as server:
        assert server.admin_key
        admin = {"X-API-Key": server.admin_key}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            events = [{"event": "e", "user_id": user} for user in USER_IDS]
            assert client.post("/v1/events", json={"events": events}, headers=admin).is_success
            read = client.post("/v1/keys", json={"scope": "read"}, headers=admin)
            reader = {"X-API-Key": read.json()["key"]} if read.status_code == 201 else {}
            for user in USER_IDS:
                segment = "/v1/users/" + urllib.parse.quote(user, safe="")
                assert client.get(segment + "/events", headers=admin).status_code == 200
                assert client.delete(segment, headers=admin).status_code == 200
                # Refused ones too: no key (401), a read key (403), a bad method (405).
                assert client.delete(segment).status_code == 401
                if reader:
                    assert client.delete(segment, headers=reader).status_code == 403
                assert client.put(segment, headers=admin).status_code == 405
                # The same id, with the "/" as sent by a client that does not encode it.
                client.get("/v1/users/" + user + "/events", headers=admin)
            # An id the API refuses (422: a NUL is no user id) is not logged either.
            refused = client.delete("/v1/users/bad%007f3a5", headers=admin)
            assert refused.status_code == 422
    output = "".join(server.output)
    if level in ("trace", "debug", "info"):
        assert "/v1/users/[redacted]" in output  # the access log still shows the requests
    if level == "trace":
        assert "Started scope" in output
    for token in TOKENS:
        leaked = [line for line in output.splitlines() if token in line]
        assert not leaked, leaked
