"""Every usage error exits 2 (the README's promise), as the real ``evana`` command: a bad flag
value, flags that exclude each other, a missing argument — one line on stderr, no traceback.
Failures that are not the command line's fault (no server, a bad environment variable) exit 1."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests._evana import run_evana

NO_SERVER = {"EVANA_URL": "http://127.0.0.1:9", "EVANA_API_KEY": "k", "EVANA_NATS_URL": ""}

USAGE = [
    (["stats", "dau", "--since", "lastweek"], "--since: cannot read 'lastweek' as a date"),
    (["stats", "top", "--until", "2026-02-30"], "--until: cannot read '2026-02-30' as a date"),
    (["stats", "mau", "--since", "3d", "--until", "2020-01-01"], "is after --until (2020-01-01)"),
    (["stats", "dau", "--format", "xml"], "Invalid value for '--format'"),
    (["stats", "dau", "--nope"], "No such option: --nope"),
    (["demo", "--format", "csv"], "use --format table or json"),
    (["dlq", "replay"], "give one dead letter ID or --all"),
    (["ingest", "-", "-"], "stdin (-) can be read only once"),
    (["serve", "--port", "99999"], "--port (EVANA_PORT): Input should be less than or equal"),
    (["worker", "--concurrency", "0", "--nats-url", "nats://127.0.0.1:9"], "--concurrency"),
]

FAILURES = [
    (["stats", "dau", "--since", "30d"], {}, "cannot reach the evana server"),
    (["stats", "dau", "--since", "3m"], {}, "cannot reach the evana server"),
    (["serve"], {"EVANA_PORT": "x"}, "invalid settings: EVANA_PORT"),
]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """Before: a bad --since (and the other errors the CLI checks itself) exited 1."""
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda case: run_evana(*case[0], env=NO_SERVER, cwd=tmp_path), USAGE)
        )
    for (args, message), result in zip(USAGE, results, strict=True):
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("evana: error: "), (args, result.stderr)
        assert result.stderr.count("\n") == 1, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_other_failures_exit_1(tmp_path: Path) -> None:
    for args, env, message in FAILURES:
        result = run_evana(*args, env={**NO_SERVER, **env}, cwd=tmp_path)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1, (args, result.stderr)
