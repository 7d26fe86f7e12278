"""A service declared, and run: every service's `app.py` declares a `Service` (name, migrations, metrics, its gRPC
API with who may call each method, and `assemble`, which makes the servicer, the stream handler and its sources,
and any background jobs from a `Context`); the kernel does the plumbing the same way for every service: it opens
and migrates the store, makes the metrics registry, wraps the handler in a `StreamRunner`, the servicer in a
`GrpcService` with its access map, and closes the store on stop.

Shutdown order (SIGTERM or SIGINT): health NOT_SERVING at once -> a short drain so load balancers notice ->
workers finish their batch, commit and exit -> the gRPC server stops with a grace period.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from services.platform import security
from services.platform.audit import AuditTrail
from services.platform.auth import Role
from services.platform.grpc_server import GrpcServer, GrpcService, start_grpc_server
from services.platform.heap import settle_heap
from services.platform.kafka_client import open_producer
from services.platform.metrics import GrpcMetrics, serve_metrics
from services.platform.runner import Handler, Source, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Migration, Store

log = logging.getLogger(__name__)


@dataclass
class ServiceApp:
    """What a service's `app.build(settings)` returns."""

    name: str
    store: Store
    registry: CollectorRegistry
    grpc_services: list[GrpcService] = field(default_factory=list)
    runners: list[StreamRunner] = field(default_factory=list)
    # async background jobs of the service (e.g. a scheduler), started with the server, cancelled on stop
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    # readiness beyond the workers: each returns why the service cannot serve (health NOT_SERVING), or None
    checks: list[Callable[[], str | None]] = field(default_factory=list)

    def unready_reason(self) -> str | None:
        return next((reason for check in self.checks if (reason := check()) is not None), None)


@dataclass(frozen=True)
class Api:
    """A service's gRPC API: its full name, the generated `add_<Service>Servicer_to_server`, and who may call
    each method (a method not listed is open to no one)."""

    name: str
    add_to_server: Callable[[Any, Any], None]
    access: Mapping[str, frozenset[Role]]

    def serving(self, servicer: object) -> GrpcService:
        return GrpcService(self.name, servicer, self.add_to_server, self.access)


@dataclass(frozen=True)
class Context:
    """What `assemble` is given: the settings, the service's (migrated) store, its metrics registry, and the
    metrics made by the declaration's `metrics` factory."""

    settings: Settings
    store: Store
    registry: CollectorRegistry
    metrics: Any


@dataclass
class Parts:
    """What `assemble` makes; the kernel wires them."""

    servicer: object | None = None             # None: no gRPC API served (e.g. a fraud service without a model)
    handler: Handler | None = None             # the stream handler, consuming `sources`
    sources: Sequence[Source] = ()
    worker: str = "worker"                     # the runner's name (metrics label `worker`)
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    checks: list[Callable[[], str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Service:
    """A service's declaration: `services/<name>/app.py` holds `SERVICE = Service(...)` and nothing the kernel
    could do for it."""

    name: str
    migrations: Sequence[Migration]
    api: Api
    assemble: Callable[..., Parts]
    metrics: Callable[[CollectorRegistry], Any] = lambda _registry: None

    def build(self, settings: Settings, **options: Any) -> ServiceApp:
        """The service ready to start (`options` reach `assemble`, e.g. fraud's `model_dir` in tests)."""
        store = Store.for_service(settings, self.name)
        try:
            store.migrate(self.migrations)
            registry = CollectorRegistry()
            parts = self.assemble(Context(settings, store, registry, self.metrics(registry)), **options)
        except BaseException:
            store.close()
            raise
        grpc_services = [] if parts.servicer is None else [self.api.serving(parts.servicer)]
        runners = [] if parts.handler is None else [
            StreamRunner(settings, self.name, parts.sources, parts.handler, store, registry, name=parts.worker)]
        return ServiceApp(self.name, store, registry, grpc_services=grpc_services, runners=runners,
                          background=parts.background, on_stop=[*parts.on_stop, store.close], checks=parts.checks)


@dataclass
class RunningService:
    app: ServiceApp
    grpc: GrpcServer
    metrics_port: int
    _tasks: list[asyncio.Task[None]]
    _metrics_server: WSGIServer

    @property
    def grpc_port(self) -> int:
        return self.grpc.port

    async def stop(self, drain_seconds: float = 0.5, grace_seconds: float = 5.0) -> None:
        await self.grpc.health.enter_graceful_shutdown()
        await asyncio.sleep(drain_seconds)
        for runner in self.app.runners:
            runner.stop()
        await asyncio.gather(*(asyncio.to_thread(r.join, 30) for r in self.app.runners))
        for task in self._tasks:
            task.cancel()
        await self.grpc.server.stop(grace_seconds)
        for hook in self.app.on_stop:
            hook()
        self._metrics_server.shutdown()
        self._metrics_server.server_close()


async def start_service(app: ServiceApp, settings: Settings) -> RunningService:
    """Start serving; StartupRefused (before anything listens) when the settings are not fit to serve."""
    settings = security.resolve(settings)
    security.check_startup(settings)
    server = await start_grpc_server(app.grpc_services, app=app.name, settings=settings,
                                     verifier=security.verifier(settings, app.name),
                                     metrics=GrpcMetrics.create(app.registry),
                                     credentials=security.server_credentials(settings),
                                     trail=_audit_trail(app, settings))
    metrics_server, metrics_port = serve_metrics(
        app.registry, settings.metrics_port, settings.metrics_host, cert_file=settings.metrics_tls_cert_file,
        key_file=settings.metrics_tls_key_file, client_ca_file=settings.metrics_tls_client_ca_file)
    for runner in app.runners:
        runner.start()
    tasks = [asyncio.create_task(_watch_health(app, server))]
    tasks += [asyncio.create_task(job()) for job in app.background]
    log.info("%s: gRPC on %s:%d, metrics on :%d", app.name, settings.grpc_host, server.port, metrics_port)
    return RunningService(app, server, metrics_port, tasks, metrics_server)


def _audit_trail(app: ServiceApp, settings: Settings) -> AuditTrail | None:
    """The service's audit trail in its own store, mirrored to the `audit` topic (none for an app without gRPC)."""
    if not app.grpc_services:
        return None
    trail = AuditTrail(app.store, settings, app.name, producer_factory=lambda: open_producer(settings))
    app.on_stop.append(trail.close)
    return trail


async def _watch_health(app: ServiceApp, server: GrpcServer, interval: float = 0.5) -> None:
    """A service whose worker died or is stuck on a batch reports NOT_SERVING (and back when it recovers)."""
    while True:
        healthy = all(r.is_healthy() for r in app.runners) and app.unready_reason() is None
        for name in ("", *server.service_names):
            await server.set_serving(name, healthy)
        await asyncio.sleep(interval)


def run_service(app: ServiceApp, settings: Settings, *, announce: Callable[[RunningService], None] | None = None,
                ) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""

    async def main() -> None:
        running = await start_service(app, settings)
        if announce is not None:
            announce(running)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # A dead worker keeps the process up and NOT_SERVING, so operators see why; the supervisor restarts it.
        await stop.wait()
        log.info("%s: shutting down", app.name)
        await running.stop()

    settle_heap()  # what the process loaded to start is frozen: no collector pass walks it again (heap.py)
    asyncio.run(main())



class ServiceThread:
    """A service running on its own event loop in a background thread (tests, benchmarks, `make run`)."""

    def __init__(self, app: ServiceApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"{app.name}-loop", daemon=True)
        self.running: RunningService | None = None

    def __enter__(self) -> ServiceThread:
        self._thread.start()
        self.running = asyncio.run_coroutine_threadsafe(start_service(self.app, self.settings), self.loop).result(60)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def target(self) -> str:
        assert self.running is not None
        return f"{self.settings.grpc_host}:{self.running.grpc_port}"

    def call(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the service's loop (e.g. to reach the server from a test)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, drain_seconds: float = 0.0) -> None:
        if self.running is not None:
            self.call(self.running.stop(drain_seconds=drain_seconds, grace_seconds=1.0))
            self.running = None
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
