"""`make run`: the whole system on one machine on embedded defaults.

Starts (or reuses) the embedded Kafka broker, prepares what services need on first start (e.g. a default
fraud model), starts every service as its own process on fixed ports, waits until each reports SERVING,
starts the simulator at a live rate, prints where everything is, supervises the services (one that exits or
stays NOT_SERVING is restarted, as a k8s liveness probe would), and on Ctrl-C stops it all cleanly.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services import registry
from services.devtools.kafka_launcher import EmbeddedKafka, ForeignBrokerError
from services.devtools.postgres_launcher import EmbeddedPostgres
from services.platform import security
from services.platform.client import connect
from services.platform.clock import utc_today
from services.platform.settings import Settings
from services.platform.storage import Store


@dataclass(frozen=True)
class Endpoint:
    service: str
    grpc_port: int
    metrics_port: int
    replica: int = 0  # 0 for the first process of a service; `--replicas N` adds 1 .. N-1

    @property
    def name(self) -> str:
        return self.service if self.replica == 0 else f"{self.service}-{self.replica + 1}"

    def nth(self, replica: int) -> Endpoint:
        """Replica `replica` of this service: the ports 10 * replica up (fraud 50051, 50061, ...)."""
        return Endpoint(self.service, self.grpc_port + 10 * replica, self.metrics_port + 10 * replica, replica)


ENDPOINTS = tuple(Endpoint(s.name, s.grpc_port, s.metrics_port) for s in registry.SERVICES)
SIMULATED_DAYS = 120


def available(service: str) -> bool:
    try:
        importlib.import_module(f"services.{service}.app")
    except ModuleNotFoundError:
        return False
    return True


def _serving(port: int, settings: Settings | None = None) -> bool:
    try:
        with connect(f"127.0.0.1:{port}", settings=settings) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        return response.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def wait_serving(port: int, timeout: float = 120.0, settings: Settings | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _serving(port, settings):
            return True
        time.sleep(0.5)
    return False


def first_defrauded_customers(customers: int, start: dt.date, rate: float, n: int = 3) -> list[tuple[str, float]]:
    """The simulated customers whose cards fraudsters use first (scenarios 1 and 3), with roughly how many
    minutes into the replay that happens: the ones to watch."""
    from services.simulator import handbook, truth

    data = handbook.generate(handbook.HandbookConfig(n_customers=customers, n_terminals=customers * 2,
                                                     n_days=SIMULATED_DAYS, start_date=start, scale_frauds=True))
    found: dict[str, float] = {}
    for r in truth.handbook_records(data):
        if r["type"] == "fraud" and r["scenario"] in (1, 3) and r["customer_id"] not in found:
            # card payments are about four in five of the bank's transactions
            found[r["customer_id"]] = r["handbook_transaction_id"] * 1.25 / rate / 60
            if len(found) == n:
                break
    return list(found.items())


def run_stack(settings: Settings, *, rate: float, customers: int, postgres: bool = False, replicas: int = 1) -> int:
    # development mode: the services, the simulator and this process's health checks share the development
    # identity provider key and CA, made here once (not by five services racing)
    os.environ["PROACTIVE_CARE_ENV"] = "development"
    settings = security.resolve(settings.with_overrides(environment="development"))
    database = None
    if postgres and not settings.database_url:  # the embedded server; the services find it through the env
        database = EmbeddedPostgres(settings.data_dir)
        print(f"starting PostgreSQL in {database.pgdata} ...", flush=True)
        os.environ["DATABASE_URL"] = database.start()
        settings = settings.with_overrides(database_url=os.environ["DATABASE_URL"])
    try:
        return _run_stack(settings, rate=rate, customers=customers, replicas=replicas)
    finally:
        if database is not None:
            print("stopping PostgreSQL ...", flush=True)
            database.stop()


def _run_stack(settings: Settings, *, rate: float, customers: int, replicas: int = 1) -> int:
    if not settings.database_url:
        try:  # a database of the earlier SQLite-only layout is refused: say so once, here, not in five logs
            for e in ENDPOINTS:
                if settings.db_path(e.service).exists():
                    Store.open(settings.db_path(e.service)).close()
        except RuntimeError as exc:
            print(f"{exc}\n  e.g. `rm {settings.data_dir}/*.sqlite`, then `make run` again.")
            return 1
    broker = EmbeddedKafka(settings)
    started_broker = settings.embedded_kafka and broker.pid() is None
    if settings.embedded_kafka:
        print(f"starting Apache Kafka on {settings.bootstrap_servers} ...", flush=True)
        try:
            broker.start()
        except ForeignBrokerError as exc:
            print(exc)
            return 1
    endpoints = [e for e in ENDPOINTS if available(e.service)]
    earlier_run = not settings.database_url and any(settings.db_path(e.service).exists() for e in endpoints)
    # children run in their own sessions: Ctrl-C reaches only this process, which stops them in order
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # replicas of a service share its consumer groups (the partitions are spread over them) and its database
    services = [_Supervised(e.nth(i), log_dir) for e in endpoints for i in range(replicas)]
    simulator: subprocess.Popen[bytes] | None = None
    web: list[tuple[str, subprocess.Popen[bytes]]] = []
    # first-start preparation (e.g. training fraud's first model) runs in the background: the other services
    # start at once, a prepared one when its preparation is done (it then reads its topics from the start)
    preparing = [_Preparation(e.service, log_dir) for e in endpoints if _needs_preparation(e.service, settings)]
    meanwhile = {p.service: p.while_preparing() for p in preparing}
    try:
        for prep in preparing:
            prep.start()
        for svc in services:
            if svc.endpoint.service not in meanwhile or meanwhile[svc.endpoint.service] is not None:
                svc.start(meanwhile.get(svc.endpoint.service))
        for svc in services:
            if svc.proc is not None and not wait_serving(svc.endpoint.grpc_port):
                print(f"{svc.endpoint.name} did not become SERVING; see {svc.log_path}")
                return 1
        web = start_web_apps(log_dir)
        # the simulated period ends today: no event is dated in the future
        start = utc_today() - dt.timedelta(days=SIMULATED_DAYS)
        with open(log_dir / "simulator.log", "ab") as log:
            simulator = subprocess.Popen(
                [*CLI, "simulate", "--customers", str(customers), "--terminals", str(customers * 2),
                 "--days", str(SIMULATED_DAYS), "--start", start.isoformat(), "--scale-frauds",
                 "--produce", "--rate", str(rate)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _announce(settings, [svc.endpoint for svc in services], rate, log_dir,
                  first_defrauded_customers(customers, start, rate), preparing)
        if earlier_run:  # the simulator replays the same event ids: the services recognise them, exactly once
            print(f"Note: {settings.data_dir} holds an earlier run, so the replayed events are recognised as\n"
                  f"  already processed (no new alerts). For a fresh demo: stop, `rm {settings.data_dir}/*.sqlite`,\n"
                  "  `make run`.", flush=True)
        _supervise(services, settings.stuck_batch_seconds, broker if started_broker else None, preparing)
    except KeyboardInterrupt:
        print("\nCtrl-C: stopping ...", flush=True)
    finally:
        procs = [(f"{p.service} preparation", p.proc) for p in preparing if p.proc is not None]
        procs += [("simulator", simulator)] if simulator is not None else []
        procs += web
        procs += [(svc.endpoint.name, svc.proc) for svc in reversed(services) if svc.proc is not None]
        for _name, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in 30 s: killing it")
                proc.kill()
        if started_broker:
            print("stopping Apache Kafka ...", flush=True)
            if not broker.stop():
                print(f"Apache Kafka still answers on {settings.bootstrap_servers} (pid {broker.pid()})")
    print("stopped.")
    return 0


CLI = [sys.executable, "-m", "services.cli"]
MAX_RESTARTS = 5
PROGRESS_EVERY_SECONDS = 30.0


def start_web_apps(log_dir: Path) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """The web apps (services/registry.py WEB_APPS), each `proactive-care <name> --port <web_port>`, calling the
    services on their `make run` ports."""
    started = []
    for app in registry.WEB_APPS:
        with open(log_dir / f"{app.name}.log", "ab") as log:
            started.append((app.name, subprocess.Popen([*CLI, app.name, "--port", str(app.web_port)], stdout=log,
                                                       stderr=subprocess.STDOUT, start_new_session=True)))
    return started


def _needs_preparation(service: str, settings: Settings) -> bool:
    module = registry.preparation(service)
    return module is not None and module.needed(settings)


class _Preparation:
    """A service's first-start preparation in its own process (`python -m services.devtools.prepare`), its
    output in `<service>-prepare.log`; its progress is said on the terminal every half minute. A service whose
    preparation declares `WHILE_PREPARING` (environment) runs with it meanwhile (fraud: rules alone) and is
    restarted once prepared; any other waits for its preparation."""

    def __init__(self, service: str, log_dir: Path) -> None:
        self.service = service
        self.log_path = log_dir / f"{service}-prepare.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = self.said = 0.0

    def while_preparing(self) -> dict[str, str] | None:
        module = registry.preparation(self.service)
        return getattr(module, "WHILE_PREPARING", None)

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.devtools.prepare", self.service],
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started = self.said = time.monotonic()

    def last_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:160] if lines else ""

    def step(self, services: list[_Supervised]) -> bool | None:
        """None while running (saying how it goes now and then); True once done (the service's processes
        started); False when it failed."""
        assert self.proc is not None
        now = time.monotonic()
        code = self.proc.poll()
        if code is None:
            if now - self.said >= PROGRESS_EVERY_SECONDS:
                self.said = now
                print(f"{self.service}: preparing for {now - self.started:.0f} s: {self.last_line()}", flush=True)
            return None
        if code != 0:
            print(f"{self.service}: preparation failed ({code}); see {self.log_path}", flush=True)
            return False
        mine = [svc for svc in services if svc.endpoint.service == self.service]
        for svc in mine:
            svc.restart()
        ports = ", ".join(f"127.0.0.1:{svc.endpoint.grpc_port}" for svc in mine)
        print(f"{self.service}: prepared in {now - self.started:.0f} s; (re)started with it (gRPC {ports})",
              flush=True)
        return True


class _Supervised:
    """One service process, restarted when it exits or stays NOT_SERVING (as a k8s liveness probe would)."""

    def __init__(self, endpoint: Endpoint, log_dir: Path) -> None:
        self.endpoint = endpoint
        self.log_path = log_dir / f"{endpoint.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.unhealthy_since: float | None = None
        self.restarts = 0

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "GRPC_PORT": str(self.endpoint.grpc_port),
               "METRICS_PORT": str(self.endpoint.metrics_port), **(extra_env or {})}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*CLI, "serve", self.endpoint.service], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.unhealthy_since = None

    def restart(self) -> None:
        """Stop the process if it runs (SIGTERM: it finishes its batch and commits), then start it again."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.start()

    def check(self, stuck_seconds: float) -> bool:
        """Restart the process if it exited or has not been SERVING for twice the stuck limit; False once it
        has been restarted too often."""
        if self.proc is None:  # not started yet (its preparation runs)
            return True
        if self.proc.poll() is None:
            if _serving(self.endpoint.grpc_port):
                self.unhealthy_since = None
                return True
            now = time.monotonic()
            self.unhealthy_since = self.unhealthy_since or now
            if now - self.unhealthy_since < 2 * stuck_seconds:
                return True
            why = "has not been SERVING for %.0f s" % (now - self.unhealthy_since)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        else:
            why = f"exited with {self.proc.returncode}"
        if self.restarts >= MAX_RESTARTS:
            print(f"{self.endpoint.name} {why}, after {self.restarts} restarts: stopping everything")
            return False
        self.restarts += 1
        print(f"{self.endpoint.name} {why}: restarting it (logs in {self.log_path})", flush=True)
        self.start()
        return True


def _supervise(services: list[_Supervised], stuck_seconds: float, broker: EmbeddedKafka | None,
               preparing: Sequence[_Preparation] = (), interval: float = 5.0) -> None:
    """Until a service has been restarted too often: start a prepared service once its preparation is done,
    restart what exited or hung, the broker this run started included (the workers pause while it is away and
    go on when it is back)."""
    broker_restarts = 0
    pending = list(preparing)
    while True:
        pending = [p for p in pending if p.step(services) is None]
        if broker is not None and broker.process is not None and broker.process.poll() is not None:
            if broker_restarts >= MAX_RESTARTS:
                print(f"Apache Kafka exited {broker_restarts + 1} times: stopping everything", flush=True)
                return
            broker_restarts += 1
            print(f"Apache Kafka exited with {broker.process.returncode}: restarting it "
                  f"(log in {broker.data_dir}/broker.log)", flush=True)
            broker.process = None
            broker.start()
        if not all(svc.check(stuck_seconds) for svc in services):
            return
        time.sleep(interval)


def _announce(settings: Settings, endpoints: list[Endpoint], rate: float, log_dir: Path,
              watch: list[tuple[str, float]], preparing: Sequence[_Preparation] = ()) -> None:
    print("\nproactive-care is running", flush=True)
    print(f"  Kafka       {settings.bootstrap_servers}")
    later = {p.service: p for p in preparing}
    for e in endpoints:
        when = ""
        if e.service in later:
            prep = later[e.service]
            how = "meanwhile" if prep.while_preparing() is not None else "starts when done"
            when = f"   (preparing, {how}: {prep.log_path})"
        print(f"  {e.name:<11} gRPC 127.0.0.1:{e.grpc_port}   metrics http://127.0.0.1:{e.metrics_port}/metrics{when}")
    for app in registry.WEB_APPS:
        print(f"  {app.name:<11} http://127.0.0.1:{app.web_port}/   (sign in as an advisor or a customer)")
    print(f"  simulator   producing about {rate:g} transactions/s to `transactions` (logs in {log_dir})")
    customer = watch[0][0] if watch else "cust_000000"
    print("\nWatch a customer's notifications arrive (in another terminal), e.g. one whose card a fraudster uses:")
    for cid, minutes in watch:
        print(f"  PROACTIVE_CARE_ENV=development .venv/bin/proactive-care watch --customer {cid}"
              f"    # fraud about {minutes:.0f} min into the replay")
    print("A token for calling the APIs yourself (e.g. with grpcurl; reflection is on; TLS with the dev CA):")
    print(f"  PROACTIVE_CARE_ENV=development .venv/bin/proactive-care token --subject {customer} --role customer")
    print(f"  grpcurl -cacert {settings.data_dir}/dev-tls/ca.pem -H \"authorization: Bearer $TOKEN\" "
          "127.0.0.1:50052 list")
    print("Prometheus with the alert rules and one job per service (Grafana dashboards: deploy/grafana):")
    print("  prometheus --config.file=deploy/prometheus/prometheus.yml"
          f" --storage.tsdb.path={log_dir.parent / 'prometheus'}")
    print("\nCtrl-C stops everything.", flush=True)
