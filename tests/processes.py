"""Services as real processes (`proactive-care serve NAME`), as deployed: each on its own ports, its log in a file,
stoppable with SIGTERM or killed with `kill -9`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from services.devtools.devstack import _serving, wait_serving
from services.devtools.kafka_launcher import free_port
from services.platform.settings import Settings


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a service process reads its settings from (`Settings.from_env`)."""
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "TOPIC_PREFIX": settings.topic_prefix, "CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
            "PROACTIVE_CARE_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url,
            "DATABASE_SCHEMA_PREFIX": settings.database_schema_prefix,
            "POLL_MAX_RECORDS": str(settings.poll_max_records), "POLL_TIMEOUT_MS": str(settings.poll_timeout_ms),
            "RETRY_BACKOFF_MAX_SECONDS": str(settings.retry_backoff_max_seconds),
            "PRODUCE_TIMEOUT_SECONDS": str(settings.produce_timeout_seconds),
            "TRANSIENT_UNHEALTHY_SECONDS": str(settings.transient_unhealthy_seconds),
            # the security settings too: a benchmark resolves development ones into `settings`, not the environment
            "PROACTIVE_CARE_ENV": settings.environment, "AUTH_JWKS_URL": settings.auth_jwks_url,
            "AUTH_ISSUER": settings.auth_issuer, "TLS_CERT_FILE": settings.tls_cert_file,
            "TLS_KEY_FILE": settings.tls_key_file, "GRPC_TLS_CA_FILE": settings.grpc_tls_ca_file, **extra}


class ServiceProcess:
    def __init__(self, settings: Settings, service: str, log_dir: Path, name: str, **env: str) -> None:
        self.service = service
        self.name = name
        self.settings = settings
        self.grpc_port, self.metrics_port = free_port(), free_port()
        self.log_path = log_dir / f"{name}.log"
        self.env = service_env(settings, GRPC_PORT=str(self.grpc_port), METRICS_PORT=str(self.metrics_port), **env)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServiceProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", self.service], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_serving(self, timeout: float = 180.0) -> bool:
        return wait_serving(self.grpc_port, timeout, settings=self.settings)

    def serving(self) -> bool:
        return self.alive() and _serving(self.grpc_port, self.settings)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on the process's /metrics (0 when absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", re.MULTILINE)
        return sum(float(v) for v in pattern.findall(text))

    def rss_bytes(self) -> int:
        """The process's resident set size now (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
