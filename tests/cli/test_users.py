"""``evana users export`` and ``evana users delete`` against a real server."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

import evana
from evana.cli._users import user_path
from tests import reference
from tests._services import free_port

from .conftest import Served, event, invoke, reference_events


def users(
    runner: CliRunner, served: Served, *args: str, key: str | None = None, **kw: Any
) -> Result:
    return invoke(
        runner, ["users", *args, "--url", served.url, "--api-key", key or served.admin], **kw
    )


def api(served: Served, path: str, **params: Any) -> Any:
    answer = httpx.get(
        f"{served.url}/v1/stats/{path}", params=params, headers={"X-API-Key": served.read}
    )
    answer.raise_for_status()
    return answer.json()


def all_reports(served: Served, since: dt.date, until: dt.date) -> dict[str, Any]:
    span = {"since": str(since), "until": str(until)}
    return {
        "dau": api(served, "dau", **span),
        "wau": api(served, "wau", **span),
        "mau": api(served, "mau", **span),
        "top": api(served, "top-events", **span, limit=10),
        "retention": api(served, "retention", **span, period="day", periods=7),
    }


def reference_reports(events: list[reference.Ev], since: dt.date, until: dt.date) -> dict[str, Any]:
    return {
        "dau": reference.active(events, since, until, 1),
        "wau": reference.active(events, since, until, 7),
        "mau": reference.active(events, since, until, 30),
        "top": reference.top(events, since, until, 10),
        "retention": reference.retention(events, since, until, "day", 7),
    }


def load(served: Served, lines: list[str]) -> None:
    with evana.Client(served.url, served.ingest) as client:
        result = client.send_batch([json.loads(line) for line in lines])
    assert result.accepted == len(lines)


def test_export_then_delete_leaves_reports_as_if_the_user_never_came(
    runner: CliRunner, served: Served, days: dt.date, tmp_path: Path
) -> None:
    victim = f"{days:%Y%m%d}/ü.%2F"  # "/", ".", "%": the id must travel as one exact segment
    lines = []
    for number in range(6):
        user = victim if number == 0 else f"{days:%Y%m%d}_{number}"
        for day in range(number, 14, 1 + number % 3):
            lines.append(event("visit" if day % 2 else "buy", user, days + dt.timedelta(days=day)))
    load(served, lines)
    since, until = days, days + dt.timedelta(days=13)
    assert all_reports(served, since, until) == reference_reports(
        reference_events(lines), since, until
    )

    out = tmp_path / "victim.jsonl"
    exported = users(runner, served, "export", victim, "-o", str(out))
    assert exported.exit_code == 0, exported.output
    mine = [json.loads(line) for line in lines if json.loads(line)["user_id"] == victim]
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["event"], e["user_id"]) for e in got] == [(e["event"], e["user_id"]) for e in mine]
    for exported_event, sent in zip(got, mine, strict=True):
        stamp = dt.datetime.fromisoformat(exported_event["timestamp"].replace("Z", "+00:00"))
        # The SDK stamps sent_at, so the server shifts timestamps by the (tiny) clock skew.
        assert abs(stamp - dt.datetime.fromisoformat(sent["timestamp"])) < dt.timedelta(seconds=5)
    assert f"Exported {len(mine)} events" in exported.stderr
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it
    to_stdout = users(runner, served, "export", victim)
    assert to_stdout.stdout == out.read_text()

    erased = users(runner, served, "delete", victim, "--yes", "--format", "json")
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout) == {"user_id": victim, "events_deleted": len(mine)}
    rest = [line for line in lines if json.loads(line)["user_id"] != victim]
    assert all_reports(served, since, until) == reference_reports(
        reference_events(rest), since, until
    )
    assert users(runner, served, "export", victim).stdout == ""


def test_delete_asks_first(runner: CliRunner, served: Served, days: dt.date) -> None:
    user = f"{days:%Y%m%d}_asked"
    load(served, [event("visit", user, days), event("visit", user, days + dt.timedelta(days=1))])
    refused = users(runner, served, "delete", user, input="n\n")
    assert refused.exit_code == 1
    assert "cannot be undone" in refused.stdout
    assert users(runner, served, "export", user).stdout.count("\n") == 2
    accepted = users(runner, served, "delete", user, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert f"Erased user {user!r}: 2 events deleted." in accepted.stdout
    csv = users(runner, served, "delete", user, "--yes", "-f", "csv")
    assert csv.stdout.splitlines() == ["user_id,events_deleted", f"{user},0"]


@pytest.mark.parametrize("command", [["export", "someone"], ["delete", "someone", "--yes"]])
@pytest.mark.parametrize(
    ("key", "url", "message"),
    [
        ("read", None, "permission denied: this key has scope 'read'"),
        ("ingest", None, "evana keys create --scope admin"),
        ("wrong", None, "refused the API key (unknown API key)"),
        ("none", None, "no API key: this command needs a key with scope 'admin'"),
        ("admin", "closed", "cannot reach the evana server at http://127.0.0.1:"),
    ],
)
def test_errors_are_one_line(
    runner: CliRunner,
    served: Served,
    tmp_path: Path,
    command: list[str],
    key: str,
    url: str | None,
    message: str,
) -> None:
    keys = {"read": served.read, "ingest": served.ingest, "admin": served.admin}
    keys["wrong"] = "evana_000000000000_nope"
    env = {"EVANA_URL": f"http://127.0.0.1:{free_port()}" if url else served.url}
    if key != "none":
        env["EVANA_API_KEY"] = keys[key]
    out = tmp_path / "out.jsonl"
    extra = ["-o", str(out)] if command[0] == "export" else []
    result = invoke(runner, ["users", *command, *extra], env=env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("evana: error: ")
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []  # a failed export leaves no file


def test_user_paths_keep_the_id_one_segment() -> None:
    assert user_path("u_42") == "/v1/users/u_42"
    assert user_path("..") == "/v1/users/%2E%2E"
    assert user_path("a/b c%") == "/v1/users/a%2Fb%20c%25"
