"""``evana ingest`` in-process (CliRunner) against a real server, and against respx for batching."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from evana.schema import derive_event_id
from tests._services import free_port

from .conftest import Served, event, invoke

URL = "http://evana.test"


def top(served: Served, since: dt.date, until: dt.date) -> dict[str, int]:
    answer = httpx.get(
        f"{served.url}/v1/stats/top-events",
        params={"since": str(since), "until": str(until), "limit": 1000},
        headers={"X-API-Key": served.read},
    )
    answer.raise_for_status()
    return {row["event"]: row["count"] for row in answer.json()["events"]}


def ingest(runner: CliRunner, served: Served, *args: str, **kwargs: Any) -> Any:
    return invoke(
        runner, ["ingest", "--url", served.url, "--api-key", served.ingest, *args], **kwargs
    )


def ingest_against(
    runner: CliRunner,
    path: Path,
    answer: Callable[[httpx.Request], httpx.Response],
    *args: str,
    url: str = URL,
) -> Any:
    """``evana ingest PATH ARGS`` against a respx server whose POST /v1/events calls ``answer``."""
    with respx.mock(base_url=url) as router:
        router.post("/v1/events").mock(side_effect=answer)
        return invoke(runner, ["ingest", str(path), "--url", url, "--api-key", "k", *args])


def test_valid_lines_are_stored_bad_ones_written_with_their_line_numbers(
    runner: CliRunner, served: Served, days: dt.date, tmp_path: Path
) -> None:
    good = event("view", "u1", days)
    lines = [
        good,
        "{not json",
        event("view", "u2", days),
        json.dumps({"event": "view", "user_id": ""}),
        "",
        good,  # the same content again: the same derived id, a duplicate
        event("buy", "u1", days + dt.timedelta(days=1), event_id=str(derive_event_id("x", "y"))),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest(runner, served, str(path), "--format", "json")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary | {"seconds": 0, "events_per_second": 0} == {
        "files": [str(path)],
        "dry_run": False,
        "read": 6,
        "accepted": 3,
        "rejected": 2,
        "duplicates": 1,
        "seconds": 0,
        "events_per_second": 0,
        "rejects": [f"{path}.rejects.jsonl"],
    }
    rejects = [json.loads(line) for line in Path(f"{path}.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["raw"]) for r in rejects] == [(2, lines[1]), (4, lines[3])]
    assert rejects[0]["error"].startswith("not valid JSON")
    assert rejects[1]["error"] == "user_id: String should have at least 1 character"
    assert "evana: 2 lines rejected" in result.stderr
    assert top(served, days, days + dt.timedelta(days=1)) == {"view": 2, "buy": 1}

    again = ingest(runner, served, str(path), "--format", "json")
    assert json.loads(again.stdout)["accepted"] == 3
    assert top(served, days, days + dt.timedelta(days=1)) == {"view": 2, "buy": 1}


def test_a_line_without_an_id_gets_the_content_derived_id(
    runner: CliRunner, served: Served, days: dt.date, tmp_path: Path
) -> None:
    when = dt.datetime.combine(days, dt.time(9, 30), dt.UTC)
    bare = tmp_path / "bare.jsonl"
    bare.write_text(event("open", "u9", when, plan="pro") + "\n")
    explicit = tmp_path / "explicit.jsonl"
    derived = derive_event_id("open", "u9", when, {"plan": "pro"})
    explicit.write_text(event("open", "u9", when, event_id=str(derived), plan="pro") + "\n")
    assert ingest(runner, served, str(bare)).exit_code == 0
    assert ingest(runner, served, str(explicit)).exit_code == 0
    assert top(served, days, days) == {"open": 1}
    assert not Path(f"{bare}.rejects.jsonl").exists()  # a clean run leaves no rejects file


def test_gzip_from_stdin_and_the_stdin_rejects_file(
    runner: CliRunner,
    served: Served,
    days: dt.date,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = [event("tap", f"u{n}", days) for n in range(50)] + ['{"event": "tap"}']
    data = gzip.compress("\n".join(lines).encode())
    result = ingest(runner, served, "-", "--batch-size", "7", "--format", "csv", input=data)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "dry_run,read,accepted,rejected,duplicates,seconds,events_per_second",
        result.stdout.splitlines()[1],
    ]
    assert result.stdout.splitlines()[1].startswith("false,51,50,1,0,")
    (reject,) = [json.loads(x) for x in (tmp_path / "stdin.rejects.jsonl").read_text().splitlines()]
    assert reject == {"line": 51, "error": "user_id: Field required", "raw": '{"event": "tap"}'}
    assert top(served, days, days) == {"tap": 50}


def test_several_files_share_one_rejects_path_with_file_names(
    runner: CliRunner, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    first.write_text('{"event": "a", "user_id": "u"}\n[]\n')
    second.write_bytes(gzip.compress(b'\n\n{"event": "b"}\n'))
    shared = tmp_path / "all.rejects.jsonl"
    result = invoke(
        runner, ["ingest", str(first), str(second), "--dry-run", "--rejects", str(shared)]
    )
    assert result.exit_code == 1
    records = [json.loads(line) for line in shared.read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in records] == [(str(first), 2), (str(second), 3)]
    assert "Validated (dry run, nothing sent)" in result.stdout
    assert "Rejected lines" in result.stdout
    assert "not a JSON object" in result.stdout


def test_a_dry_run_needs_no_server_and_sends_nothing(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(event("e", f"u{n}", dt.date(2026, 1, 1)) + "\n" for n in range(10)))
    with respx.mock(assert_all_called=False) as router:
        route = router.route()
        result = invoke(runner, ["ingest", str(path), "--dry-run", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert not route.called
    assert json.loads(result.stdout)["accepted"] == 10
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_one_rejected_line_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    """Before: "evana: 1 line(s) rejected"."""
    path = tmp_path / "one_bad.jsonl"
    path.write_text(event("e", "u", dt.date(2026, 1, 1)) + "\n{not json\n")
    result = invoke(runner, ["ingest", str(path), "--dry-run"])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == "evana: 1 line rejected"


class Recorder:
    """A respx side effect answering like evana: rejects each batch's event at ``reject_index``."""

    def __init__(self, reject_index: int | None = None, delay: float = 0.0) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.encodings: set[str | None] = set()
        self.reject_index = reject_index
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        self.encodings.add(request.headers.get("content-encoding"))
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        events = json.loads(body)["events"]
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay if events else 0)
        with self.lock:
            self.in_flight -= 1
            if events:
                self.batches.append(events)
        rejected = []
        if events and self.reject_index is not None and self.reject_index < len(events):
            rejected = [{"index": self.reject_index, "errors": ["timestamp: too late"]}]
        return httpx.Response(
            202, json={"accepted": len(events) - len(rejected), "rejected": rejected}
        )


def test_batches_respect_size_and_concurrency_and_server_rejects_map_to_lines(
    runner: CliRunner, tmp_path: Path
) -> None:
    lines = [event("e", f"u{n}", dt.date(2026, 1, 1)) for n in range(95)]
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines))
    recorder = Recorder(reject_index=1, delay=0.05)
    result = ingest_against(runner, path, recorder, "--batch-size", "10", "-c", "3")
    assert result.exit_code == 1
    assert [len(batch) for batch in recorder.batches] == [10] * 9 + [5]
    assert recorder.encodings == {"gzip"}  # a remote server: compressed
    assert 1 < recorder.most_in_flight <= 3
    sent = [e for batch in recorder.batches for e in batch]
    assert sorted(e["user_id"] for e in sent) == sorted(f"u{n}" for n in range(95))
    assert all(e["event_id"] for e in sent)  # every event leaves with its (derived) id
    rejects = [json.loads(x) for x in Path(f"{path}.rejects.jsonl").read_text().splitlines()]
    # The second event of each batch; batches settle in order, so lines come out in order.
    assert [r["line"] for r in rejects] == [2 + 10 * k for k in range(10)]
    assert rejects[0] == {"line": 2, "error": "timestamp: too late", "raw": lines[1]}


def test_a_failure_mid_run_says_what_was_accepted_before_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join(event("e", f"u{n}", dt.date(2026, 1, 1)) for n in range(20)))
    answers = iter(
        [
            httpx.Response(202, json={"accepted": 0, "rejected": []}),  # the empty probe
            httpx.Response(202, json={"accepted": 10, "rejected": []}),
            httpx.Response(401, json={"error": "unauthorized", "detail": "revoked API key"}),
        ]
    )
    result = ingest_against(
        runner, path, lambda request: next(answers), "--batch-size", "10", "-c", "1"
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "refused the API key (revoked API key)" in result.stderr
    assert "10 events were accepted before that" in result.stderr


def test_a_server_that_limits_batches_lower_gets_a_hint(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(event("e", "u", dt.date(2026, 1, 1)))
    answers = iter(
        [
            httpx.Response(202, json={"accepted": 0, "rejected": []}),
            httpx.Response(413, json={"error": "payload_too_large", "detail": "split it"}),
        ]
    )
    result = ingest_against(runner, path, lambda request: next(answers))
    assert result.exit_code == 1
    assert "split it (lower --batch-size)" in result.stderr


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (
            [],
            "wrong",
            "refused the API key (unknown API key): this command needs a key with scope 'ingest'",
        ),
        (
            [],
            "read",
            "permission denied: this key has scope 'read'; POST /v1/events needs scope 'ingest'",
        ),
        ([], None, "no API key: this command needs a key with scope 'ingest'"),
        (["--batch-size", "5001"], "ingest", "Invalid value for '--batch-size'"),
        (["-", "-"], "ingest", "stdin (-) can be read only once"),
        (["nope.jsonl"], "ingest", "cannot read nope.jsonl: No such file or directory"),
        (["--rejects", "no/r.jsonl"], "ingest", "cannot write rejects to no/r.jsonl: no directory"),
    ],
)
def test_errors_are_one_line(
    runner: CliRunner,
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    key: str | None,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.jsonl").write_text(event("e", "u", dt.date(2026, 1, 1)))
    keys = {"wrong": "evana_000000000000_nope", "read": served.read, "ingest": served.ingest}
    env = {"EVANA_URL": served.url} | ({"EVANA_API_KEY": keys[key]} if key else {})
    result = invoke(
        runner,
        ["ingest", *(args if "-" in args or "nope.jsonl" in args else ["ok.jsonl", *args])],
        env=env,
    )
    assert result.exit_code != 0
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_an_unreachable_server_is_named_at_once(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_text(event("e", "u", dt.date(2026, 1, 1)))
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = invoke(runner, ["ingest", str(path), "--url", url, "--api-key", "k"])
    assert time.monotonic() - started < 5  # the probe does not retry
    assert result.exit_code == 1
    assert result.stderr.startswith(f"evana: error: cannot reach the evana server at {url} (")
    assert result.stderr.count("\n") == 1


def test_the_progress_bar_counts_bytes_and_events_on_a_terminal(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    from evana.cli import _progress

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120, color_system=None)
    monkeypatch.setattr(_progress, "err_console", terminal)
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(event("e", f"u{n}", dt.date(2026, 1, 1)) + "\n" for n in range(300)))
    result = invoke(runner, ["ingest", str(path), "--dry-run", "--batch-size", "100"])
    assert result.exit_code == 0, result.output
    drawn = screen.getvalue()
    assert "ingest" in drawn
    assert "300 events" in drawn
    assert f"{path.stat().st_size / 1000:.1f}/{path.stat().st_size / 1000:.1f} kB" in drawn
    assert "/s" in drawn
    screen.truncate(0)
    quiet = invoke(runner, ["ingest", str(path), "--dry-run", "--no-progress"])
    assert quiet.exit_code == 0
    assert screen.getvalue().strip("\x00") == ""


def test_ctrl_c_says_how_far_it_got(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(event("e", f"u{n}", dt.date(2026, 1, 1)) for n in range(30)))
    calls = iter(range(100))

    def answer(request: httpx.Request) -> httpx.Response:
        if next(calls) == 2:
            raise KeyboardInterrupt
        return httpx.Response(202, json={"accepted": 10 if request.content else 0, "rejected": []})

    result = ingest_against(runner, path, answer, "--batch-size", "10", "-c", "1")
    assert result.exit_code == 130
    assert result.stderr == (
        "evana: error: interrupted after 10 events were accepted; running the same command"
        " again counts none of them twice\n"
    )


def test_a_local_server_gets_plain_bodies(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(event("e", f"u{n}", dt.date(2026, 1, 1)) for n in range(5)))
    recorder = Recorder()
    result = ingest_against(runner, path, recorder, url="http://127.0.0.1:9")
    assert result.exit_code == 0, result.output
    assert len(recorder.batches) == 1
    assert recorder.encodings == {None, "gzip"}  # the empty probe is the SDK's usual gzip


def test_the_help_says_where_rejects_go(runner: CliRunner) -> None:
    text = " ".join(invoke(runner, ["ingest", "--help"]).stdout.replace("│", " ").split())
    assert (
        "(default: <input>.rejects.jsonl; stdin.rejects.jsonl in this directory for stdin)" in text
    )
    assert "(env EVANA_URL; default http://127.0.0.1:8000)" in text
