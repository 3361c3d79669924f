"""Drill: ``docker compose up -d --build --scale worker=3``, as a user runs it, under faults.

The repository's ``docker-compose.yml`` and ``Dockerfile`` run unchanged (plus
``docker/compose.drill.yml``, which only shortens the workers' ack wait): the image is built,
PostgreSQL, NATS, the API and three workers start, the first key is made with
``docker compose exec``, and events go in from the host through the published port on
127.0.0.1 while

1. a worker's process is SIGKILLed (a crash: the restart policy starts it again),
2. the workers are paused with batches waiting in JetStream, and the NATS container is
   replaced by a new one on the same volume (the batches must survive it),
3. a worker container is killed with ``docker kill`` (it stays down; two workers go on).

Then every event is stored once, every report equals the reference computed from the events
sent, the workers stop on SIGTERM with exit code 0 well inside compose's grace period, and
``docker compose down -v`` leaves no container, volume or network behind.

It needs a Docker engine and Docker Compose (v2's ``docker compose`` or v1's
``docker-compose``), and skips without them; ``.ci/docker.sh`` provides both in CI, and builds
the images the compose file names from a Debian base where no registry is reachable
(``docker/standins/build.sh``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from tests._services import free_port
from tests.server._pipeline import BASE, check_reports

from ._drill import DAYS, Figures, Poster, drill_events, timed

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "com.docker.compose.container-number"
IMAGES = ("python:3.12-slim", "postgres:16", "nats:2.10-alpine")
#: The whole drill, a cold image build included; a warm run takes about a minute.
LIMIT_SECONDS = 600

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(LIMIT_SECONDS)]


def run(command: Sequence[str], *, check: bool = True, timeout: float = 120, **kwargs: object):
    """Run a command; on failure, raise with its output."""
    result = subprocess.run(
        list(command), capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-3000:]}"
            f"\n{result.stderr[-3000:]}"
        )
    return result


def compose_cli() -> list[str] | None:
    """Docker Compose v2 (``docker compose``) where installed, else v1 (``docker-compose``)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def missing_docker() -> str | None:
    """Why the drill cannot run here, or None."""
    if not shutil.which("docker"):
        return "no docker command (.ci/docker.sh installs Docker and starts its engine)"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "no Docker engine answers (.ci/docker.sh installs Docker and starts its engine)"
    if compose_cli() is None:
        return "no Docker Compose (docker compose or docker-compose)"
    return None


class Project:
    """One compose project of the drill's own: a unique name, its own published port."""

    def __init__(self, cli: list[str]) -> None:
        self.name = f"evana-drill-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        files = ["-f", "docker-compose.yml", "-f", "docker/compose.drill.yml"]
        self.base = [*cli, "-p", self.name, *files]
        self.env = {
            **os.environ,
            "EVANA_API_ADDRESS": "127.0.0.1",
            "EVANA_API_PORT": str(self.port),
        }

    def __call__(self, *args: str, timeout: float = 120, check: bool = True):
        return run([*self.base, *args], timeout=timeout, check=check, env=self.env)

    def containers(self, service: str) -> dict[int, str]:
        """The service's containers by their number (``worker`` 1, 2, 3), running or not."""
        ids = run(
            [
                "docker",
                "ps",
                "-aq",
                "--filter",
                f"label=com.docker.compose.project={self.name}",
                "--filter",
                f"label=com.docker.compose.service={service}",
            ]
        ).stdout.split()
        out = {}
        for cid in ids:
            number = inspect(
                cid, '{{ index .Config.Labels "com.docker.compose.container-number" }}'
            )
            out[int(number)] = cid
        return out

    def sql(self, query: str) -> str:
        psql = ["psql", "-U", "evana", "-d", "evana", "-tAc", query]
        return str(self("exec", "-T", "postgres", *psql).stdout.strip())

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.name}"
        found = []
        for kind in (["ps", "-aq"], ["volume", "ls", "-q"], ["network", "ls", "-q"]):
            found += run(["docker", *kind, "--filter", label]).stdout.split()
        return found


def inspect(container: str, template: str) -> str:
    return str(run(["docker", "inspect", "--format", template, container]).stdout.strip())


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.5)


def ready(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    return False


@pytest.fixture(scope="module")
def cli() -> list[str]:
    reason = missing_docker()
    if reason:
        pytest.skip(reason)
    if any(run(["docker", "image", "inspect", i], check=False).returncode for i in IMAGES):
        # No registry here, or nothing pulled yet: stand-ins under the same names (kept once
        # built; a real image of that name is never replaced).
        run(["bash", "docker/standins/build.sh"], timeout=LIMIT_SECONDS - 60)
    found = compose_cli()
    assert found is not None
    return found


@pytest.fixture
def project(cli: list[str]) -> Iterator[Project]:
    project = Project(cli)
    try:
        yield project
    finally:
        project("down", "-v", "--remove-orphans", "-t", "10", check=False)


def stored(project: Project) -> tuple[int, int]:
    """(rows, distinct event ids) in the ``events`` table."""
    rows, distinct = project.sql("SELECT count(*), count(DISTINCT event_id) FROM events").split("|")
    return int(rows), int(distinct)


def test_compose_up_scaled_survives_a_worker_crash_and_a_new_nats_container(
    project: Project,
) -> None:
    events = drill_events(3000, seed=16)
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]
    with timed(Figures("docker compose, 3 workers")) as figures:
        started = time.monotonic()
        project("up", "-d", "--build", "--scale", "worker=3", timeout=LIMIT_SECONDS - 120)
        wait_until(lambda: ready(project.url), 90, "the API ready on the published port")
        figures.notes.append(f"up --build and ready in {time.monotonic() - started:.0f} s")
        workers = project.containers("worker")
        assert sorted(workers) == [1, 2, 3]
        answer = project(
            "exec", "-T", "api", "evana", "keys", "create", "--scope", "admin", "--format", "json"
        )
        key = json.loads(answer.stdout)["key"]

        poster = Poster(project.url, key)
        try:
            # 1. A crash: a worker's process dies by SIGKILL between two batches; the restart
            #    policy starts it again.
            for batch in batches[:10]:
                poster.post(batch)
            project("exec", "-T", "--index=1", "worker", "sh", "-c", "kill -9 -1", check=False)
            figures.faults += 1
            for batch in batches[10:20]:
                poster.post(batch)
            wait_until(
                lambda: int(inspect(workers[1], "{{.RestartCount}}")) >= 1,
                30,
                "the crashed worker restarted",
            )
            # 2. Batches accepted while every worker is paused live only in JetStream; then the
            #    NATS container is replaced by a new one on the same volume while a client
            #    keeps sending (paced, so that it sends through the outage).
            project("pause", "worker")
            for batch in batches[20:35]:
                poster.post(batch)
            held = 35 * 50 - stored(project)[1]
            assert held >= 15 * 50, "batches accepted while paused were written"
            figures.notes.append(f"{held} events only in JetStream when NATS was replaced")

            def send_paced() -> None:
                for batch in batches[35:50]:
                    poster.post(batch, deadline=90)
                    time.sleep(0.3)

            sender = threading.Thread(target=send_paced, daemon=True)
            sender.start()
            project("up", "-d", "--no-deps", "--force-recreate", "nats")
            figures.faults += 1
            project("unpause", "worker")
            sender.join(120)
            assert not sender.is_alive(), "the sender did not finish"
            # 3. A worker container killed outright stays down; the other two go on.
            run(["docker", "kill", workers[2]])
            figures.faults += 1
            for batch in batches[50:]:
                poster.post(batch)
        finally:
            poster.close()
        figures.requests = poster.requests
        figures.notes.append(f"{poster.refused} answers were 503 or no answer")

        # Every event once; the top events add up to the events sent; every report exact.
        wait_until(lambda: stored(project)[1] >= len(events), 60, "every event written")
        rows, distinct = stored(project)
        figures.events = distinct
        figures.lost = len(events) - distinct
        figures.duplicates = rows - distinct
        assert (rows, distinct) == (len(events), len(events))
        since, until = BASE.date(), BASE.date() + dt.timedelta(days=DAYS)
        top = httpx.get(
            f"{project.url}/v1/stats/top-events",
            params={"since": str(since), "until": str(until), "limit": 100},
            headers={"X-API-Key": key},
            timeout=30,
        ).json()
        counted = sum(row["count"] for row in top["events"])
        assert counted == len(events), f"the rollups count {counted} events for {len(events)}"
        check_reports(project.url, key, events, days=DAYS)

        # The restart policy brought the crashed worker back, and it is healthy.
        wait_until(
            lambda: inspect(workers[1], "{{.State.Health.Status}}") == "healthy",
            60,
            "the restarted worker healthy",
        )
        # SIGTERM: the running workers drain and exit 0, well inside the 30 s grace period.
        stopping = time.monotonic()
        project("stop", "worker", timeout=90)
        figures.notes.append(f"workers stopped in {time.monotonic() - stopping:.1f} s")
        assert time.monotonic() - stopping < 30
        assert inspect(workers[1], "{{.State.ExitCode}}") == "0"
        assert inspect(workers[3], "{{.State.ExitCode}}") == "0"

        project("down", "-v", "-t", "20")
        assert project.leftovers() == []
