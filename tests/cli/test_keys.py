"""``evana keys`` and ``/v1/keys``: keys over the API for admins, never a database by accident."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests._evana import evana_serve, run_evana
from tests.server._pipeline import evana_worker

from .conftest import Served, invoke

CREATED = {"key_id", "key", "scope", "name", "created_at"}
LISTED = {"key_id", "name", "scope", "created_at", "revoked_at"}


def dau(url: str, key: str) -> int:
    headers = {"X-API-Key": key}
    params = {"since": "2001-01-01", "until": "2001-01-01"}
    return httpx.get(f"{url}/v1/stats/dau", params=params, headers=headers, timeout=10).status_code


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create", "--scope", "ingest"],
        ["keys", "list"],
        ["keys", "revoke", "3f9c2a1b7d4e"],
    ],
)
def test_keys_never_create_a_database_by_accident(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    # Run from a directory without the server's database: before, a new empty ./evana.db was
    # made and the key printed was one the server did not know.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVANA_DATABASE_URL", raising=False)
    result = invoke(runner, args)
    assert result.exit_code == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert "\n" not in message
    assert message.startswith(f"evana: error: no evana database at {tmp_path / 'evana.db'}:")
    assert "EVANA_DATABASE_URL" in message
    assert "--url" in message
    assert list(tmp_path.iterdir()) == []


def test_worker_does_not_create_a_sqlite_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "evana.db"
    env = {"EVANA_DATABASE_URL": f"sqlite:///{missing}", "EVANA_NATS_URL": "nats://127.0.0.1:1"}
    result = run_evana("worker", env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"evana: error: no evana database at {missing}:")
    assert not missing.parent.exists()


def test_db_upgrade_still_creates_the_database(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    result = invoke(runner, ["db", "upgrade", "--database-url", f"sqlite:///{target}"])
    assert result.exit_code == 0, result.output
    made = invoke(
        runner, ["keys", "create", "--scope", "read", "--database-url", f"sqlite:///{target}"]
    )
    assert made.exit_code == 0, made.output


def test_the_keys_routes_answer_the_documented_shapes(served: Served) -> None:
    admin = httpx.Client(base_url=served.url, headers={"X-API-Key": served.admin}, timeout=10)
    with admin:
        made = admin.post("/v1/keys", json={"scope": "read", "name": "dashboards"})
        assert made.status_code == 201, made.text
        body = made.json()
        assert set(body) == CREATED
        assert (body["scope"], body["name"]) == ("read", "dashboards")
        assert body["key"].startswith(f"evana_{body['key_id']}_")
        assert dau(served.url, body["key"]) == 200

        unnamed = admin.post("/v1/keys", json={"scope": "ingest"}).json()
        assert unnamed["name"] is None

        for bad in (
            {"scope": "root"},
            {},
            {"scope": "read", "extra": 1},
            {"scope": "read", "name": "x" * 201},
        ):
            answer = admin.post("/v1/keys", json=bad)
            assert answer.status_code == 422, (bad, answer.text)
            assert answer.json()["error"]

        listed = admin.get("/v1/keys")
        assert listed.status_code == 200
        assert set(listed.json()) == {"keys"}
        rows = {row["key_id"]: row for row in listed.json()["keys"]}
        assert all(set(row) == LISTED for row in rows.values())
        assert rows[body["key_id"]] == {
            "key_id": body["key_id"],
            "name": "dashboards",
            "scope": "read",
            "created_at": body["created_at"],
            "revoked_at": None,
        }
        # The secret is all after "evana_<key id>_" (it may itself hold "_").
        assert body["key"].split("_", 2)[2] not in listed.text  # never a secret

        gone = admin.delete(f"/v1/keys/{body['key_id']}")
        assert (gone.status_code, gone.content) == (204, b"")
        assert dau(served.url, body["key"]) == 401  # the very next request
        assert admin.delete(f"/v1/keys/{body['key_id']}").status_code == 204  # harmless again
        assert admin.delete("/v1/keys/000000000000").status_code == 404
        revoked = {row["key_id"]: row for row in admin.get("/v1/keys").json()["keys"]}
        assert revoked[body["key_id"]]["revoked_at"] is not None

    for key in (served.read, served.ingest):
        headers = {"X-API-Key": key}
        assert httpx.get(f"{served.url}/v1/keys", headers=headers).status_code == 403
        answer = httpx.post(f"{served.url}/v1/keys", json={"scope": "admin"}, headers=headers)
        assert answer.status_code == 403


def test_keys_over_the_api_from_anywhere(
    runner: CliRunner, served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not where the server's database is
    api = ["--url", served.url, "--api-key", served.admin]
    made = invoke(runner, ["keys", "create", "--scope", "read", "--name", "ci", *api, "-f", "json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert set(created) == CREATED
    assert dau(served.url, created["key"]) == 200

    listed = invoke(
        runner,
        ["keys", "list", "-f", "json"],
        env={"EVANA_URL": served.url, "EVANA_API_KEY": served.admin},
    )
    assert listed.exit_code == 0, listed.output
    rows = {row["key_id"]: row for row in json.loads(listed.stdout)["keys"]}
    assert rows[created["key_id"]]["name"] == "ci"

    table = invoke(runner, ["keys", "list", *api])
    assert created["key_id"] in table.stdout

    # The whole key is accepted too: only its id travels (in the URL path).
    gone = invoke(runner, ["keys", "revoke", created["key"], *api, "-f", "json"])
    assert gone.exit_code == 0, gone.output
    revoked = json.loads(gone.stdout)
    assert set(revoked) == LISTED
    assert revoked["revoked_at"] is not None
    assert dau(served.url, created["key"]) == 401
    assert list(tmp_path.iterdir()) == []  # no database made here

    refused = invoke(runner, ["keys", "list", "--url", served.url, "--api-key", served.read])
    assert refused.exit_code == 1
    assert "permission denied" in refused.stderr
    unknown = invoke(runner, ["keys", "revoke", "000000000000", *api])
    assert unknown.exit_code == 1
    assert "000000000000" in unknown.stderr
    nokey = invoke(runner, ["keys", "list"], env={"EVANA_URL": served.url})
    assert nokey.exit_code == 1
    assert "no API key" in nokey.stderr
    both = invoke(runner, ["keys", "list", *api, "--database-url", "sqlite://"])
    assert both.exit_code == 1
    assert "not both" in both.stderr


def test_database_url_wins_over_evana_url(runner: CliRunner, served: Served) -> None:
    database = f"sqlite:///{served.cwd / 'evana.db'}"
    env = {"EVANA_URL": "http://127.0.0.1:1", "EVANA_API_KEY": "evana_nothing"}
    made = invoke(
        runner,
        ["keys", "create", "--scope", "read", "--database-url", database, "-f", "json"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert dau(served.url, json.loads(made.stdout)["key"]) == 200


@pytest.mark.integration
def test_a_key_revoked_through_one_api_process_is_refused_by_another(
    tmp_path: Path, pg_fresh_url: str, nats_url: str, nats_prefix: str
) -> None:
    # Production: two API replicas over one PostgreSQL. Keys are looked up in the database on
    # every request, so the bound is zero: the next request anywhere is refused.
    env = {
        "EVANA_DATABASE_URL": pg_fresh_url,
        "EVANA_NATS_URL": nats_url,
        "EVANA_NATS_SUBJECT_PREFIX": nats_prefix,
    }
    with evana_serve(tmp_path, env) as first, evana_serve(tmp_path, env) as second:
        admin = first.admin_key or second.admin_key
        assert admin
        made = run_evana(
            "keys",
            "create",
            "--scope",
            "read",
            "-f",
            "json",
            env={"EVANA_URL": first.url, "EVANA_API_KEY": admin},
        )
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)
        assert dau(second.url, key["key"]) == 200  # warm on the other replica
        gone = run_evana(
            "keys", "revoke", key["key_id"], env={"EVANA_URL": first.url, "EVANA_API_KEY": admin}
        )
        assert gone.returncode == 0, gone.stderr
        assert re.match(rf"Revoked key {key['key_id']} \(read\)\.", gone.stdout)
        assert dau(second.url, key["key"]) == 401
        assert dau(first.url, key["key"]) == 401
        with evana_worker(env):  # the worker opens the same database: it must exist, and does
            pass
