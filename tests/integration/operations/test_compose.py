"""deploy/docker-compose.yml loads as Docker Compose would load it (no Docker engine here: compose-go, the loader
of Docker Compose, validates it against the Compose specification), with the whole stack in it, TLS on: a
one-shot service makes the development CA and identity provider, every service points at them, and the health
check uses the plaintext health-only port (and passes against a real service)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from services import cli, registry
from services.devtools.kafka_launcher import free_port
from services.notify.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.settings import Settings
from tests.integration.operations.tools import tool

COMPOSE = Path(__file__).resolve().parents[3] / "deploy" / "docker-compose.yml"


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("composecheck"), str(path)], capture_output=True, text=True, timeout=60)


def test_the_compose_file_is_valid():
    done = _check(COMPOSE)
    assert done.returncode == 0, done.stderr
    assert "valid: 14 services" in done.stdout


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


def _services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_service_runs_with_tls_and_the_identity_provider_of_the_certs_volume():
    services = _services()
    init = services["dev-certs"]
    assert init["restart"] == "no" and init["command"][:3] == ["dev-certs", "--out", "/certs"]
    assert "certs:/certs" in init["volumes"]
    assert {h for flag, h in zip(init["command"], init["command"][1:], strict=False) if flag == "--host"} == set(
        registry.NAMES)
    for name in registry.NAMES:
        service = services[name]
        env = service["environment"]
        assert env["TLS_CERT_FILE"].endswith(":-/certs/dev-tls/server.pem}"), name
        assert env["TLS_KEY_FILE"].endswith(":-/certs/dev-tls/server-key.pem}"), name
        assert env["GRPC_TLS_CA_FILE"].endswith(":-/certs/dev-tls/ca.pem}"), name
        assert env["AUTH_JWKS_URL"].endswith(":-/certs/dev-identity/jwks.json}") and env["AUTH_ISSUER"], name
        assert "certs:/certs:ro" in service["volumes"], name
        assert service["depends_on"]["dev-certs"] == {"condition": "service_completed_successfully"}, name
        assert env["HEALTH_PORT"] == "8086" and env["METRICS_HOST"] == "0.0.0.0", name
        check = " ".join(service["healthcheck"]["test"])
        assert "localhost:8086" in check and "insecure_channel" in check and "50051" not in check, name
        assert env[f"{name.upper()}_TARGET"] == f"{name}:50051", name  # the case view's and the console's way in


def test_the_console_serves_https_with_the_development_certificate():
    console = _services()["console"]
    assert console["command"] == ["console", "--host", "0.0.0.0", "--port", "8443"]
    assert console["environment"]["PROACTIVE_CARE_DATA_DIR"] == "/certs" and console["ports"] == ["8443:8443"]
    assert "https://localhost:8443/healthz" in " ".join(console["healthcheck"]["test"])


def test_the_dev_certs_command_makes_what_the_stack_mounts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.logs, "configure", lambda _name: None)  # the test process keeps its logging
    monkeypatch.setattr(cli.tracing, "configure", lambda _name: None)
    command = _services()["dev-certs"]["command"]
    assert cli.main([*[tmp_path.as_posix() if arg == "/certs" else arg for arg in command]]) == 0
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    for name in ("TLS_CERT_FILE", "TLS_KEY_FILE", "GRPC_TLS_CA_FILE", "AUTH_JWKS_URL"):
        assert Path(printed[name]).is_file() and printed[name].startswith(tmp_path.as_posix()), name
    cert = x509.load_pem_x509_certificate((tmp_path / "dev-tls" / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert set(names) == {"localhost", *registry.NAMES}  # clients reach a service by its compose name


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_compose_health_check_passes_against_a_serving_service(settings: Settings):
    health = settings.with_overrides(health_port=free_port())
    check = _services()["notify"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    with ServiceThread(SERVICE.build(health), health):
        done = subprocess.run([sys.executable, "-c", check[3].replace("localhost:8086",
                                                                      f"localhost:{health.health_port}")],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
