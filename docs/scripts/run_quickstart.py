"""Run the Home page's quickstart word for word, in an empty folder, and check what it prints.

The page's code blocks are read by their titles: ``terminal 1`` and ``terminal 2`` hold
commands, ``terminal N output`` what they must print, and a title ending in ``.py`` a file to
save first. Terminal 1 (which ends in ``evana serve``) runs in the background; terminal 2 runs
once the server answers, with one substitution a reader does by hand too: the
``export EVANA_API_KEY=evana_…`` line becomes the one ``evana serve`` printed.

Each expected output line must appear, in order, in what the terminal printed; in the expected
lines ``…`` stands for any text and a date for any date. The commands are not changed, but the
environment is: ``EVANA_PORT``/``EVANA_URL`` point at a free port (the page's 8000 may be taken
on a shared machine) and ``PIP_FIND_LINKS`` adds the folder of the built wheel, so the page's
``pip install 'evana[all]'`` installs the package under test.

    python docs/scripts/run_quickstart.py --wheels dist/
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "index.md"
_BLOCK = re.compile(r'^```(\w+) title="([^"]+)"\n(.*?)^```', re.MULTILINE | re.DOTALL)
_KEY_LINE = "export EVANA_API_KEY=evana_…"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def blocks(page: Path = PAGE) -> dict[str, str]:
    """The page's titled code blocks, by title."""
    return {title: body for _, title, body in _BLOCK.findall(page.read_text())}


def _pattern(expected: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(…|\d{4}-\d{2}-\d{2})", expected.rstrip()):
        if piece == "…":
            parts.append(".*")
        elif _DATE.fullmatch(piece):
            parts.append(r"\d{4}-\d{2}-\d{2}")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def check_output(expected: str, actual: str, what: str) -> None:
    """Every expected line must match a line of ``actual``, in order; raise if one does not."""
    lines = [line.rstrip() for line in actual.splitlines()]
    position = 0
    for wanted in expected.splitlines():
        pattern = _pattern(wanted)
        while position < len(lines) and not pattern.fullmatch(lines[position]):
            position += 1
        if position == len(lines):
            raise AssertionError(f"{what}: no line matches {wanted!r} (in order) in:\n{actual}")
        position += 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def background(script: str, cwd: Path, env: dict[str, str], log: Path) -> Iterator[None]:
    """Run a bash script in its own process group; stop the whole group afterwards."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-e", "-c", script],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(wheels: Path, folder: Path, install_timeout: float = 600) -> None:
    """Run the quickstart in ``folder``; raise AssertionError when something differs."""
    page = blocks()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    links = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS"), str(wheels.resolve())]))
    env = {**os.environ, "EVANA_PORT": str(port), "EVANA_URL": url, "PIP_FIND_LINKS": links}
    for name in ("VIRTUAL_ENV", "EVANA_API_KEY", "EVANA_DATABASE_URL", "EVANA_NATS_URL"):
        env.pop(name, None)
    for title, body in page.items():
        if title.endswith(".py"):
            (folder / title).write_text(body)
    log = folder / "terminal-1.log"
    with background(page["terminal 1"], folder, env, log):
        deadline = time.monotonic() + install_timeout
        while not (_answers(url) and "export EVANA_API_KEY=" in log.read_text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"evana serve never answered:\n{log.read_text()}")
            time.sleep(0.5)
        first = log.read_text()
        check_output(page["terminal 1 output"].replace("8000", str(port)), first, "terminal 1")
        export = re.search(r"^\s*(export EVANA_API_KEY=\S+)$", first, re.MULTILINE)
        assert export is not None, first
        script = page["terminal 2"]
        if _KEY_LINE not in script:
            raise AssertionError(f"terminal 2 no longer has the line {_KEY_LINE!r}")
        second = subprocess.run(
            ["bash", "-e", "-c", script.replace(_KEY_LINE, export.group(1))],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        shown = second.stdout + second.stderr
        if second.returncode != 0:
            raise AssertionError(f"terminal 2 failed ({second.returncode}):\n{shown}")
        check_output(page["terminal 2 output"], second.stdout, "terminal 2")
    print(f"quickstart: every command ran and printed what the page shows (port {port})")


def main() -> None:
    """Run the quickstart in a temporary folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--wheels", type=Path, required=True, help="folder of the built wheel")
    parser.add_argument("--keep", action="store_true", help="keep the folder (for a look)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="evana-quickstart-"))
    try:
        run(args.wheels, folder)
    except AssertionError as exc:
        print(f"quickstart FAILED in {folder}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
