"""docker-compose.yml and the Dockerfile describe a production deployment that can work.

The files are checked as data here (the services and their wiring, every ``EVANA_*`` variable a
real setting, workers scalable, health checks on readiness); where a compose CLI is installed,
its own validation runs too. ``tests/drills/test_compose.py`` runs them for real.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from evana.server import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {str(k): str(v) for k, v in env.items() if k != "<<"}


def test_compose_runs_postgres_nats_api_and_scalable_workers() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "nats", "api", "worker"}
    nats = services["nats"]
    assert "--jetstream" in nats["command"]
    store = nats["command"][nats["command"].index("--store_dir") + 1]
    assert any(volume.endswith(f":{store}") for volume in nats["volumes"])  # survives restarts
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])

    api = services["api"]
    assert api["command"][:3] == ["uvicorn", "--factory", "evana.server:create_app"]
    # 8000 by default; the drill publishes another port, on 127.0.0.1.
    assert api["ports"] == ["${EVANA_API_ADDRESS:-0.0.0.0}:${EVANA_API_PORT:-8000}:8000"]
    worker = services["worker"]
    assert worker["command"] == ["evana", "worker"]
    # `--scale worker=N` needs no fixed name and no host port per worker.
    assert "container_name" not in worker
    assert "ports" not in worker
    # Healthy means ready: the API's /readyz (database and queue), a worker's metrics server
    # (up once it consumes). Both under an init process, with time to drain on SIGTERM.
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert f":{environment(worker)['EVANA_METRICS_PORT']}/metrics" in " ".join(
        worker["healthcheck"]["test"]
    )
    for service in (api, worker):
        assert service["init"] is True
        assert service["stop_grace_period"] == "30s"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["nats"]["condition"] == "service_healthy"
        env = environment(service)
        assert env["EVANA_NATS_URL"] == "nats://nats:4222"
        assert env["EVANA_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["EVANA_DATABASE_URL"]
    for command in compose_clis():  # where one is installed, its own validation too
        result = subprocess.run(
            [*command, "-f", "docker-compose.yml", "config", "-q"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr


def compose_clis() -> list[list[str]]:
    """Docker Compose v1 (``docker-compose``) and v2 (``docker compose``), when installed."""
    found = [["docker-compose"]] if shutil.which("docker-compose") else []
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            found.append(["docker", "compose"])
    return found


def test_every_evana_variable_in_compose_is_a_setting() -> None:
    known = {f"EVANA_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose()["services"].items():
        for variable in environment(service):
            if variable.startswith("EVANA_"):
                assert variable in known, f"{name}: {variable} is not a setting"
    worker = environment(compose()["services"]["worker"])
    Settings(**{k.removeprefix("EVANA_").lower(): v for k, v in worker.items()})  # valid values


def test_the_image_installs_the_server_and_serves_the_api() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"evana[server,cli]"' in dockerfile
    assert "EXPOSE 8000" in dockerfile
    assert '"evana.server:create_app"' in dockerfile
    assert "USER evana" in dockerfile  # not root
    assert "-c /tmp/evana/constraints.txt" in dockerfile  # the versions CI tested
    # The build context is the package alone: no .venv, no .git, no tests.
    allowed = [line for line in (ROOT / ".dockerignore").read_text().split() if line[0] == "!"]
    assert "*" in (ROOT / ".dockerignore").read_text().split()
    assert allowed == [
        "!pyproject.toml",
        "!constraints.txt",
        "!README.md",
        "!LICENSE",
        "!evana",
        "!docker/requirements.py",
    ]


def test_the_image_requirements_are_the_server_and_cli_extras() -> None:
    """docker/requirements.py gives the image's dependency layer what the extras ask for."""
    spec = importlib.util.spec_from_file_location("requirements", ROOT / "docker/requirements.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    requirements = module.requirements

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = requirements(project, ["server", "cli"])
    expected = set(project["dependencies"])
    for extra in ("server", "cli"):
        expected |= set(project["optional-dependencies"][extra])
    assert set(wanted) == expected
    assert len(wanted) == len(set(wanted))
    # A self-reference is expanded, never installed from an index.
    assert sorted(requirements(project, ["all"])) == sorted(wanted)
