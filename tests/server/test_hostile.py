"""Hostile input against a real server: a schemathesis run over every endpoint, then by hand."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._evana import ServerProcess, evana_serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Small limits so generated bodies hit them too.
    env = {"EVANA_MAX_BATCH_EVENTS": "50", "EVANA_MAX_BODY_BYTES": "65536"}
    with evana_serve(tmp_path_factory.mktemp("hostile"), env=env) as running:
        assert running.admin_key
        yield running


def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    server: ServerProcess, tmp_path: Path
) -> None:
    """At least 1,000 generated requests over every operation: no 5xx, every answer matches
    the schema, schema-violating requests are refused. (Schema-*valid* requests may still get a
    422 for rules OpenAPI cannot express — since after until, a range over 10 years — so the
    positive_data_acceptance check is left out on purpose.)"""
    st = shutil.which("schemathesis", path=os.path.dirname(sys.executable)) or "schemathesis"
    result = subprocess.run(
        [
            st,
            "run",
            f"{server.url}/openapi.json",
            "-H",
            f"X-API-Key: {server.admin_key}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "200",
            "--seed",
            "20261123",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    generated = int(re.search(r"(\d+) generated", summary).group(1))  # type: ignore[union-attr]
    assert generated >= 1000, summary
    assert "Tested: 9" in summary or re.search(r"Tested: (\d+)", summary), summary


def post(server: ServerProcess, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/events",
        content=content,
        headers={
            "X-API-Key": server.admin_key or "",
            "Content-Type": "application/json",
            **headers,
        },
    )


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        # NUL characters, which PostgreSQL refuses: a per-event reject, never a poisoned batch.
        (
            b'{"events": [{"event": "a\\u0000", "user_id": "u"}, {"event": "ok", "user_id": "u"}]}',
            202,
            "NUL",
        ),
        (
            b'{"events": [{"event": "a", "user_id": "u", "properties": {"k": "\\u0000"}}]}',
            202,
            "NUL",
        ),
        # Huge and non-finite numbers.
        (
            b'{"events": [{"event": "a", "user_id": "u", "properties": {"x": 1e400}}]}',
            202,
            "NaN and Infinity",
        ),
        (
            b'{"events": [{"event": "a", "user_id": "u", "properties": {"x": NaN}}]}',
            202,
            "NaN and Infinity",
        ),
        (
            b'{"events": [{"event": "a", "user_id": "u", "properties": {"x": '
            + b"9" * 5000
            + b"}}]}",
            422,
            "not valid JSON",
        ),
        # Invalid UTF-8 and broken escapes.
        (b'{"events": [{"event": "a\xff", "user_id": "u"}]}', 422, "not valid JSON"),
        (b'{"events": [{"event": "\\ud800", "user_id": "u"}]}', 202, "lone UTF-16 surrogate"),
        # 10,000-character names; timestamps far away.
        (b'{"events": [{"event": "' + b"x" * 10_000 + b'", "user_id": "u"}]}', 202, "at most 200"),
        (
            b'{"events": [{"event": "a", "user_id": "u", "timestamp": "9999-12-31T23:59:59Z"}]}',
            202,
            "future",
        ),
        (
            b'{"events": [{"event": "a", "user_id": "u", "timestamp": "0001-01-01T00:00:00Z"}]}',
            202,
            "before 1970",
        ),
        # Deep nesting: refused per event below the parser's limit, as a body beyond it.
        (
            b'{"events": [{"event": "a", "user_id": "u", "properties": '
            + b'{"k":' * 100
            + b"1"
            + b"}" * 100
            + b"}]}",
            202,
            "nested deeper",
        ),
        (
            b'{"events": [{"event": "a", "user_id": "u", "properties": '
            + b'{"k":' * 5000
            + b"1"
            + b"}" * 5000
            + b"}]}",
            422,
            "not valid JSON",
        ),
        # Not JSON at all, and the wrong shape.
        (b"\x00\x01\x02", 422, "not valid JSON"),
        (b"[]", 422, "events"),
    ],
)
def test_hostile_bodies_get_clear_answers(
    server: ServerProcess, body: bytes, status: int, needle: str
) -> None:
    response = post(server, body)
    assert response.status_code == status, response.text
    assert needle in response.text


def test_duplicate_keys_take_the_last_value_like_every_json_parser(server: ServerProcess) -> None:
    response = post(server, b'{"events": [{"event": "a", "user_id": "first", "user_id": "last"}]}')
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": []}


def test_a_gzip_bomb_is_refused_without_inflating_it(server: ServerProcess) -> None:
    bomb = gzip.compress(b" " * 200_000_000, 9)  # 200 MB of spaces in ~200 KB
    assert len(bomb) < 300_000
    response = post(server, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_wrong_content_type_and_encoding(server: ServerProcess) -> None:
    body = json.dumps({"events": []}).encode()
    assert (
        post(server, body, **{"Content-Type": "multipart/form-data; boundary=x"}).status_code == 415
    )
    assert post(server, body, **{"Content-Encoding": "deflate"}).status_code == 415


def test_the_server_still_counts_exactly_after_all_that(server: ServerProcess) -> None:
    response = post(
        server, json.dumps({"events": [{"event": "survivor", "user_id": "u1"}]}).encode()
    )
    assert response.json()["accepted"] == 1
    top = httpx.get(
        f"{server.url}/v1/stats/top-events", headers={"X-API-Key": server.admin_key or ""}
    ).json()
    assert {"event": "survivor", "count": 1, "users": 1} in top["events"]
