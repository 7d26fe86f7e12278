"""The embedded Apache Kafka: a single-node KRaft broker the project starts itself.

Jars come from Maven Central through `deploy/kafka/pom.xml` into a cache outside the work tree. On first start
the storage directory is formatted; then the broker starts, the launcher waits until it answers, creates the
topics with their partition counts, and on stop shuts the broker down cleanly (SIGTERM, then SIGKILL).
`KAFKA_BOOTSTRAP_SERVERS` pointing at another cluster skips all of this.

Besides its PLAINTEXT listener the broker can also listen with SSL (client certificate required) and SASL_SSL
(SCRAM-SHA-512 users created when the storage is formatted), with PEM key and trust stores from the development
CA (`SecureListeners`): the Kafka transport security test runs the project's clients against them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from kafka.errors import KafkaError

from services.platform.dev_tls import DevTls
from services.platform.kafka_io import ensure_topics, make_admin
from services.platform.settings import Settings

log = logging.getLogger(__name__)

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
__all__ = ["EmbeddedKafka", "ForeignBrokerError", "SecureListeners", "ensure_topics", "free_port", "listener_pid",
           "port_open"]
SCRAM_MECHANISM = "SCRAM-SHA-512"


class KafkaLaunchError(RuntimeError):
    pass


def ensure_jars(settings: Settings) -> Path:
    """Fetch Apache Kafka and its runtime dependencies with Maven, once: under a file lock, so processes starting
    brokers at the same time on a fresh machine (the test workers) fetch them once, not into each other."""
    libs = settings.kafka_home / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    libs.mkdir(parents=True, exist_ok=True)
    with open(settings.kafka_home / ".fetch.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not marker.exists():
            log.info("fetching Apache Kafka jars from Maven Central into %s", libs)
            subprocess.run(
                ["mvn", "-q", "-B", "-f", str(DEPLOY_DIR / "pom.xml"), "dependency:copy-dependencies",
                 f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
                check=True,
            )
            marker.touch()
    return libs


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, and never one this process handed out before: two calls in a row (a broker's
    and its controller's port) could otherwise get the same one back from the kernel, and the broker refuses two
    listeners on one port."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class ForeignBrokerError(KafkaLaunchError):
    """Something this checkout did not start already listens on the broker's port."""


@dataclass(frozen=True)
class SecureListeners:
    """Two more listeners on 127.0.0.1: SSL on `ssl_port` (mutual TLS: the client presents a certificate of the
    CA) and SASL_SSL on `sasl_ssl_port` (server TLS, SCRAM-SHA-512 with `scram_users`, name -> password). The
    broker's certificate and trusted CA are `tls`'s (the development CA); inter-broker traffic stays PLAINTEXT."""

    tls: DevTls
    ssl_port: int
    sasl_ssl_port: int
    scram_users: Mapping[str, str] = field(default_factory=dict)

    def listeners(self) -> list[tuple[str, int]]:
        return [("SSL", self.ssl_port), ("SASL_SSL", self.sasl_ssl_port)]

    def properties(self, keystore: Path) -> str:
        return "\n".join([
            "# SSL and SASL_SSL listeners (SecureListeners): PEM stores from the development CA",
            "ssl.keystore.type=PEM", f"ssl.keystore.location={keystore}",
            "ssl.truststore.type=PEM", f"ssl.truststore.location={self.tls.ca_file.resolve()}",
            "listener.name.ssl.ssl.client.auth=required",
            f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ])

    def format_args(self) -> list[str]:
        """`kafka-storage format` arguments creating the SCRAM users (KRaft keeps them in its metadata log)."""
        return [arg for name, password in self.scram_users.items()
                for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")]


class EmbeddedKafka:
    """One broker process whose data lives in `data_dir`.

    The broker is this checkout's when its cluster id is the one formatted into `data_dir` (meta.properties):
    `start` reuses it then, and refuses (ForeignBrokerError, one clear line) a broker of another checkout or
    anything else on the port, rather than sharing its topics and consumer groups. `pid()` is the process that
    really listens on the port, found through /proc, not a pid file that may name a dead broker."""

    def __init__(self, settings: Settings, data_dir: Path | None = None,
                 secure: SecureListeners | None = None) -> None:
        self.settings = settings
        self.data_dir = (data_dir or settings.data_dir / "kafka").resolve()
        self.secure = secure
        self.process: subprocess.Popen[bytes] | None = None

    # ---- lifecycle --------------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        if port_open(self.settings.kafka_port):
            self.wait_until_ready(timeout)
            self.require_ours()
            log.info("this checkout's broker already answers on port %d: using it", self.settings.kafka_port)
            ensure_topics(self.settings)
            return
        libs = ensure_jars(self.settings)
        config = self._write_config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            scram = self.secure.format_args() if self.secure else []
            subprocess.run(_java_cmd(libs, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c",
                                     str(config), "--ignore-formatted", *scram), check=True,
                           stdout=subprocess.DEVNULL)
        with open(self.data_dir / "broker.log", "ab") as log_file:
            self.process = subprocess.Popen(_java_cmd(libs, "kafka.Kafka", str(config)), stdout=log_file,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_until_ready(timeout)
        ensure_topics(self.settings)

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise KafkaLaunchError(f"broker exited with {self.process.returncode}; see {self.data_dir}/broker.log")
            if port_open(self.settings.kafka_port):
                try:
                    make_admin(self.settings).close()
                    return
                except KafkaError:
                    pass
            time.sleep(0.3)
        raise KafkaLaunchError(f"broker did not answer within {timeout:.0f} s; see {self.data_dir}/broker.log")

    def cluster_id(self) -> str | None:
        """The cluster id formatted into this data dir, if it was formatted."""
        try:
            lines = (self.data_dir / "logs" / "meta.properties").read_text().splitlines()
        except FileNotFoundError:
            return None
        return next((line.split("=", 1)[1].strip() for line in lines if line.startswith("cluster.id=")), None)

    def answering_cluster_id(self) -> str | None:
        """The cluster id of the broker answering on the port (None: nothing answers, or not Kafka)."""
        try:
            admin = make_admin(self.settings)
        except KafkaError:
            return None
        try:
            return admin.describe_cluster().get("cluster_id")
        except KafkaError:
            return None
        finally:
            admin.close()

    def require_ours(self) -> None:
        ours, answering = self.cluster_id(), self.answering_cluster_id()
        if ours is None or answering != ours:
            raise ForeignBrokerError(
                f"port {self.settings.kafka_port} is held by a broker this checkout did not start (cluster "
                f"{answering or 'unknown'}, ours {ours or 'not formatted yet'}): stop it, choose another port "
                f"with KAFKA_PORT, or use it on purpose with KAFKA_BOOTSTRAP_SERVERS")

    def pid(self) -> int | None:
        """The process listening on the broker's port, if any."""
        return listener_pid(self.settings.kafka_port)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop this checkout's broker (the process that really listens, or the one this object started).
        False when a broker still answers afterwards (a foreign one is never signalled)."""
        pid = self.process.pid if self.process else None
        if pid is None and (listening := self.pid()) is not None:
            if self.answering_cluster_id() != self.cluster_id():
                return False  # not ours: leave it alone
            pid = listening
        if pid is None:
            return not port_open(self.settings.kafka_port)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            if self.process is not None:
                self.process.poll()
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()
        return not port_open(self.settings.kafka_port)

    # ---- helpers ----------------------------------------------------------------------------------------

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        template = Template((DEPLOY_DIR / "server.properties").read_text())
        path = self.data_dir / "server.properties"
        port, controller_port = self.settings.kafka_port, self.settings.kafka_controller_port
        listeners = [("PLAINTEXT", port), *(self.secure.listeners() if self.secure else [])]
        secure = ""
        if self.secure is not None:
            keystore = self.data_dir / "broker-keystore.pem"  # Kafka's PEM keystore: the key, then the chain
            keystore.touch(mode=0o600)
            keystore.write_bytes(self.secure.tls.server_key_file.read_bytes()
                                 + self.secure.tls.server_cert_file.read_bytes())
            secure = self.secure.properties(keystore)
        path.write_text(template.substitute(
            listeners=",".join(f"{name}://127.0.0.1:{p}" for name, p in [*listeners, ("CONTROLLER", controller_port)]),
            advertised_listeners=",".join(f"{name}://127.0.0.1:{p}" for name, p in listeners),
            protocol_map=",".join(f"{name}:{name}" for name, _ in listeners) + ",CONTROLLER:PLAINTEXT",
            controller_port=controller_port,
            data_dir=self.data_dir / "logs",
            secure_listeners=secure,
        ))
        return path


def _java_cmd(libs: Path, main: str, *args: str) -> list[str]:
    return ["java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.yaml'}", "-cp", f"{libs}/*", main, *args]




def _cluster_id() -> str:
    """A random id as Kafka writes them, never starting with '-' (the storage tool would read it as an option;
    Kafka's own Uuid.randomUuid() redraws those too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on TCP `port` on this machine (Linux /proc), or None."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                    sockets.add(f"socket:[{fields[9]}]")
    if not sockets:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in sockets for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:  # gone, or not ours to look at
            continue
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return True
