"""The per-key rate limit: token buckets, the 429 answer, its defaults, and the SDK obeying it."""

from __future__ import annotations

import doctest
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import evana
from evana.errors import RateLimitedError
from evana.server import Settings, _ratelimit, _redact
from evana.server._keys import KeyService
from evana.server._ratelimit import RateLimiter
from evana.server._storage import Database
from tests._evana import evana_serve
from tests.conftest import Api, make_api


def test_doctests() -> None:
    for module in (_ratelimit, _redact):
        assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_a_bucket_refills_at_the_rate_and_holds_at_most_the_burst() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=4, burst=3, clock=lambda: now[0])
    assert [limiter.wait("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait("a") == pytest.approx(0.25)
    assert limiter.wait("b") == 0.0  # every key has its own bucket
    now[0] += 0.25
    assert limiter.wait("a") == 0.0
    assert limiter.wait("a") == pytest.approx(0.25)  # refused requests took nothing
    now[0] += 3600  # a long pause saves up the burst, not an hour of tokens
    assert [limiter.wait("a") for _ in range(4)][-1] > 0


def test_over_the_limit_is_429_with_retry_after_rounded_up() -> None:
    limiter = RateLimiter(rate=0.4, burst=1, clock=lambda: 0.0)
    limiter.check("k")
    with pytest.raises(RateLimitedError) as raised:
        limiter.check("k")
    assert raised.value.headers["Retry-After"] == "3"  # 2.5 s, never earlier
    assert raised.value.status_code == 429


def test_defaults_off_when_embedded_on_in_production() -> None:
    assert Settings(database_url="sqlite://").rate_limit is None
    production = Settings(database_url="sqlite://", nats_url="nats://127.0.0.1:4222")
    assert production.rate_limit == (1000.0, 2000)
    assert Settings(nats_url="nats://x", rate_limit_per_second=0).rate_limit is None
    assert Settings(rate_limit_per_second=0.5).rate_limit == (0.5, 1)
    assert Settings(rate_limit_per_second=3, rate_limit_burst=7).rate_limit == (3.0, 7)


@pytest.fixture
def limited() -> Iterator[Api]:
    yield from make_api(
        Settings(database_url="sqlite://", rate_limit_per_second=0.01, rate_limit_burst=3)
    )


def test_the_api_answers_429_per_key_and_counts_it(limited: Api) -> None:
    def dau(key: str) -> httpx.Response:
        return limited.client.get("/v1/stats/dau", headers={"X-API-Key": key})

    # Requests without a valid key are refused before the limiter: they cannot drain a bucket.
    for _ in range(10):
        assert dau("evana_0123456789ab_nope").status_code == 401
    assert [dau(limited.read).status_code for _ in range(3)] == [200] * 3
    refused = dau(limited.read)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "rate_limited"
    assert "rate limit" in refused.json()["detail"]
    # Another key is not affected; a forbidden request still costs its key a token.
    assert (
        limited.client.get("/v1/stats/dau", headers={"X-API-Key": limited.ingest}).status_code
        == 403
    )
    assert dau(limited.admin).status_code == 200
    metrics = limited.client.get("/metrics").text
    assert re.search(r"^evana_requests_rate_limited_total 1\.0$", metrics, re.MULTILINE)


def test_a_throttled_key_is_logged_once_a_minute_not_silently(
    limited: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="evana.access")
    answers = [
        limited.client.get("/v1/stats/dau", headers={"X-API-Key": limited.read}).status_code
        for _ in range(6)
    ]
    assert answers == [200] * 3 + [429] * 3
    lines = [r.getMessage() for r in caplog.records if r.name == "evana.access"]
    assert len(lines) == 1, lines
    assert lines[0].startswith("msg=rate_limited key_id=")
    assert "rate=0.01 burst=3" in lines[0]


@pytest.mark.slow
def test_the_sdk_waits_out_429s_and_delivers_every_event(tmp_path: Path) -> None:
    """End to end: a real server limiting each key to 3 requests/s (burst 3); an SDK client
    sends 15 batches as fast as it can. Every event arrives once; the server refused some
    requests with 429, and the client retried them after Retry-After."""
    env = {"EVANA_RATE_LIMIT_PER_SECOND": "3", "EVANA_RATE_LIMIT_BURST": "3"}
    with evana_serve(tmp_path, env) as server:
        assert server.admin_key
        db = Database(f"sqlite:///{tmp_path / 'evana.db'}")
        ingest = KeyService(db).create("ingest").key
        db.dispose()
        started = time.monotonic()
        errors: list[object] = []
        with evana.Client(
            server.url, ingest, flush_at=10, on_error=lambda e, err: errors.append(err)
        ) as client:
            for n in range(150):
                client.track("ping", user_id=f"user-{n % 40}")
            assert client.flush(timeout=60)
            metrics = client.metrics
        elapsed = time.monotonic() - started
        assert errors == []
        assert metrics.delivered == 150
        assert metrics.retries >= 3
        refused = re.search(
            r"^evana_requests_rate_limited_total (\S+)$",
            httpx.get(f"{server.url}/metrics").text,
            re.MULTILINE,
        )
        assert refused
        assert float(refused.group(1)) >= 3
        # 15 requests at 3/s after a burst of 3 cannot take less than 4 s: the limit held.
        assert elapsed >= 3.9
        top = httpx.get(
            f"{server.url}/v1/stats/top-events", headers={"X-API-Key": server.admin_key}
        ).json()
        assert top["events"] == [{"event": "ping", "count": 150, "users": 40}]
