"""deploy/docker-compose.yml loads as Docker Compose would load it (no Docker engine here: compose-go, the loader
of Docker Compose, validates it against the Compose specification), with the whole stack in it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from services import registry
from tests.integration.operations.tools import tool

COMPOSE = Path(__file__).resolve().parents[3] / "deploy" / "docker-compose.yml"


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("composecheck"), str(path)], capture_output=True, text=True, timeout=60)


def test_the_compose_file_is_valid():
    done = _check(COMPOSE)
    assert done.returncode == 0, done.stderr
    assert "valid: 12 services" in done.stdout


def test_the_check_refuses_a_file_off_the_specification(tmp_path):
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE.read_text().replace("replicas: 2, resources", "replicaz: 2, resources"))
    done = _check(bad)
    assert done.returncode != 0 and "replicaz" in done.stderr


def test_the_stack_runs_two_replicas_of_each_service_on_postgresql_with_prometheus_and_grafana():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"kafka", "postgres", "prometheus", "grafana"} <= set(services)
    for name in registry.NAMES:
        assert services[name]["deploy"]["replicas"] == 2, name
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://"), name
        assert services[name]["command"] == [name]
