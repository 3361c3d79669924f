"""The README's first-run story, through the installed command: serve, key, send with curl, read."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests._evana import evana_serve, run_evana


def post_with_curl(url: str, key: str, body: str) -> dict[str, object]:
    if not shutil.which("curl"):  # pragma: no cover - curl is on every machine this runs on
        return httpx.post(f"{url}/v1/events", content=body, headers={"X-API-Key": key}).json()  # type: ignore[no-any-return]
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            f"{url}/v1/events",
            "-H",
            f"X-API-Key: {key}",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_first_run_prints_an_admin_key_once_and_serves_exact_stats(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with evana_serve(tmp_path) as server:
        assert server.admin_key
        assert server.admin_key.startswith("evana_")
        assert (tmp_path / "evana.db").exists()  # the default embedded database, migrated on start
        ingest = run_evana("keys", "create", "--scope", "ingest", "--format", "json", cwd=tmp_path)
        assert ingest.returncode == 0, ingest.stderr
        ingest_key = json.loads(ingest.stdout)["key"]
        body = json.dumps(
            {
                "events": [
                    {"event": "signup", "user_id": "u_42", "properties": {"plan": "pro"}},
                    {"event": "view", "user_id": "u_43"},
                    {"event": "view", "user_id": ""},
                ]
            }
        )
        answer = post_with_curl(server.url, ingest_key, body)
        assert answer["accepted"] == 2
        assert [r["index"] for r in answer["rejected"]] == [2]
        dau = httpx.get(
            f"{server.url}/v1/stats/dau",
            params={"since": str(today), "until": str(today)},
            headers={"X-API-Key": server.admin_key},
        ).json()
        assert dau == {
            "since": str(today),
            "until": str(today),
            "series": [{"date": str(today), "users": 2}],
        }
        forbidden = httpx.get(f"{server.url}/v1/stats/dau", headers={"X-API-Key": ingest_key})
        assert forbidden.status_code == 403
    # A second start on the same database prints no new key.
    with evana_serve(tmp_path) as again:
        assert again.admin_key is None
        assert "admin key" not in "".join(again.output)


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        # An empty directory: no database, and none made by accident.
        (["keys", "revoke", "nope"], "no evana database at", 1),
        (
            ["keys", "create", "--scope", "read", "--database-url", "mysql://x"],
            "unsupported database URL",
            1,
        ),
        (["serve", "--port", "99999"], "EVANA_PORT", 2),  # a usage error
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    tmp_path: Path, args: list[str], message: str, code: int
) -> None:
    result = run_evana(*args, cwd=tmp_path)
    assert result.returncode == code
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_keys_list_and_revoke(tmp_path: Path) -> None:
    assert run_evana("db", "upgrade", cwd=tmp_path).returncode == 0
    created = json.loads(
        run_evana(
            "keys", "create", "--scope", "read", "--name", "dash", "--format", "json", cwd=tmp_path
        ).stdout
    )
    listed = json.loads(run_evana("keys", "list", "--format", "json", cwd=tmp_path).stdout)["keys"]
    assert [(k["key_id"], k["name"], k["scope"], k["revoked_at"]) for k in listed] == [
        (created["key_id"], "dash", "read", None)
    ]
    assert (
        created["key"] not in run_evana("keys", "list", cwd=tmp_path).stdout
    )  # secrets are never shown again
    revoked = run_evana("keys", "revoke", created["key_id"], cwd=tmp_path)
    assert revoked.returncode == 0
    assert "Revoked" in revoked.stdout
    assert json.loads(run_evana("keys", "list", "--format", "json", cwd=tmp_path).stdout)["keys"][
        0
    ]["revoked_at"]
    unknown = run_evana("keys", "revoke", "nope", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "no API key with id 'nope'" in unknown.stderr
    csv_out = run_evana("keys", "list", "--format", "csv", cwd=tmp_path).stdout.splitlines()
    assert csv_out[0] == "key_id,name,scope,created_at,revoked_at"


def test_db_upgrade_and_version(tmp_path: Path) -> None:
    first = run_evana("db", "upgrade", cwd=tmp_path)
    assert first.returncode == 0
    assert "Upgraded the database from revision none" in first.stdout
    assert "up to date" in run_evana("db", "upgrade", cwd=tmp_path).stdout
    assert run_evana("--version").stdout.startswith("evana 0.1.0")
