"""Build the package, check what it holds, install it in fresh venvs and use it as a user would.

1. ``python -m build``: an sdist and a wheel;
2. the wheel holds every file of ``evana/`` that git tracks (migrations, ``py.typed``, ...), and
   the sdist the tests, docs and examples;
3. a venv with the bare wheel: ``import evana`` works (client SDK only), and the ``evana``
   command says which extra to install;
4. a venv with ``evana[all]``: ``evana --version``, then ``evana serve`` in an empty folder, one
   event sent with the SDK, DAU read back as 1, the dashboard (its pages, scripts, styles and the
   vendored libraries) and /docs served from the installed wheel, server stopped;
5. the Home page's quickstart, word for word, in a third venv it creates itself.

Every install takes the versions pinned in ``constraints.txt`` (``-c`` where this script runs
pip, ``PIP_CONSTRAINT`` for the quickstart, whose commands are the page's own), as the test run
does: a new release of a dependency changes nothing here until ``.ci/lock`` is rerun.

    python .ci/smoke_wheel.py
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"

_ONE_EVENT = """
import sys, evana
url, key = sys.argv[1], sys.argv[2]
with evana.Client(url, key) as client:
    client.track("smoke_test", user_id="u_1")
    assert client.flush(timeout=10), client.metrics
    users = client.stats.dau(since="today").series[-1].users
print(f"DAU today: {users}")
assert users == 1, users
"""


_DASHBOARD = """
import re, sys, httpx, evana.server._dashboard as dashboard
url, key = sys.argv[1], sys.argv[2]
assert "site-packages" in dashboard.__file__, dashboard.__file__  # the wheel, not a checkout
with httpx.Client(base_url=url, timeout=10) as http:
    assert http.get("/").headers["location"] == "/signin"
    assert http.post("/dashboard/session", json={"key": key}).status_code == 200
    page = http.get("/")
    assert page.status_code == 200, page.status_code
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', page.text)
    root = assets[0].rsplit("/", 1)[0]  # the files' fingerprinted folder
    assets += [f"{root}/js/views/index.js", f"{root}/vendor/uplot/uPlot.esm.js"]
    assets += re.findall(r'src="(/dashboard/static/[^"]+)"', http.get("/docs").text)
    assets += re.findall(r'src="(/dashboard/static/[^"]+)"', http.get("/redoc").text)
    for asset in assets:
        assert http.get(asset).status_code == 200, asset
    assert http.get("/v1/stats/dau").status_code == 200  # the API, with the session cookie
print(f"dashboard served from the wheel: {len(assets)} assets")
"""


def step(title: str) -> None:
    """Say what happens next (and when), so the CI log reads as a story."""
    print(f"\n== {title} ({time.strftime('%H:%M:%S')})", flush=True)


def run(*args: str | Path, cwd: Path | None = None, **kwargs: object) -> str:
    """Run a command, echo it, fail loudly with its output; return stdout."""
    print("$", " ".join(str(a) for a in args), flush=True)
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build(out: Path) -> tuple[Path, Path]:
    """Build the sdist and the wheel into ``out``."""
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    (wheel,) = out.glob("evana-*.whl")
    (sdist,) = out.glob("evana-*.tar.gz")
    return wheel, sdist


def check_contents(wheel: Path, sdist: Path) -> None:
    """Every tracked file of the package is in the wheel; the sdist can run the tests."""
    tracked = run("git", "ls-files", "evana", cwd=ROOT).split()
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in tracked if name not in in_wheel]
    if missing:
        sys.exit(f"the wheel lacks: {missing}")
    if any(name.startswith(("tests/", "docs/", "bench/")) for name in in_wheel):
        sys.exit("the wheel holds files that are not part of the package")
    top = f"{sdist.name.removesuffix('.tar.gz')}/"
    in_sdist = {name.removeprefix(top) for name in tarfile.open(sdist).getnames()}
    wanted = ["pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "mkdocs.yml"]
    wanted += ["tests/conftest.py", "docs/index.md", "examples/quickstart.py"]
    absent = [name for name in wanted if name not in in_sdist]
    if absent:
        sys.exit(f"the sdist lacks: {absent}")
    print(f"wheel: {len(in_wheel)} files, all {len(tracked)} tracked package files in it")


def make_venv(path: Path) -> Path:
    """A fresh venv with pip; returns its bin folder."""
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(bin_dir: Path, folder: Path) -> Iterator[tuple[str, str]]:
    """``evana serve`` from ``bin_dir`` in ``folder``; yields its URL and admin key."""
    port = free_port()
    log = folder / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVANA_") and k != "PYTHONPATH"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [bin_dir / "evana", "serve", "--port", str(port)],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while (key := re.search(r"admin key: (\S+)", log.read_text())) is None or not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"evana serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", key.group(1)
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"evana serve stopped (exit {proc.returncode})")


def _ready(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def main() -> None:
    """Every step in order; exit non-zero at the first that fails."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="evana-wheel-") as tmp:
        work = Path(tmp)
        step("build the sdist and the wheel")
        wheel, sdist = build(work / "dist")
        check_contents(wheel, sdist)

        step("bare wheel: the client SDK alone")
        bare = make_venv(work / "bare")
        run(bare / "pip", "install", "--quiet", "-c", CONSTRAINTS, wheel)
        print(run(bare / "python", "-c", "import evana; print('import evana', evana.__version__)"))
        hint = subprocess.run([bare / "evana"], capture_output=True, text=True)
        if hint.returncode != 1 or "pip install 'evana[cli]'" not in hint.stderr:
            sys.exit(f"evana without the cli extra should say what to install: {hint}")
        print(hint.stderr.strip())

        step("wheel with [all]: evana --version and one event")
        full = make_venv(work / "full")
        run(full / "pip", "install", "--quiet", "-c", CONSTRAINTS, f"{wheel}[all]")
        version = run(full / "evana", "--version").strip()
        print(version)
        if version != f"evana {wheel.name.split('-')[1]}":
            sys.exit(f"unexpected version: {version!r}")
        folder = work / "serve"
        folder.mkdir()
        with serve(full, folder) as (url, key):
            print(run(full / "python", "-c", _ONE_EVENT, url, key).strip())
            # Away from the checkout (python -c puts the current folder first on sys.path).
            clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            print(run(full / "python", "-c", _DASHBOARD, url, key, cwd=folder, env=clean).strip())
        if "dashboard: http://127.0.0.1:" not in (folder / "serve.log").read_text():
            sys.exit("evana serve did not print the dashboard's URL")

        step("the quickstart, word for word")
        quickstart = ROOT / "docs" / "scripts" / "run_quickstart.py"
        pinned = " ".join(filter(None, [os.environ.get("PIP_CONSTRAINT"), str(CONSTRAINTS)]))
        env = {**os.environ, "PIP_CONSTRAINT": pinned}
        print(run(sys.executable, quickstart, "--wheels", wheel.parent, env=env).strip())
    print(f"\nwheel smoke test passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
