"""proactive-care: banking proactive-care services (fraud alerts, advice nudges, mortgage care) on a Kafka
transaction stream. `make run` runs everything on one machine; `COMMAND --help` explains each command."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services import registry
from services.platform import auth, logs, tracing
from services.platform.settings import Settings

if TYPE_CHECKING:
    from services.platform.app import Service, ServiceApp


class _Parser(argparse.ArgumentParser):
    """Every command and subcommand shows its defaults in `--help` (the service folders' subcommands too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(folder_commands: bool = True) -> argparse.ArgumentParser:
    """The whole command line; without `folder_commands`, only the kernel's commands (what `serve` needs)."""
    parser = _Parser(prog="proactive-care", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kafka = sub.add_parser("kafka", help="the embedded Apache Kafka broker")
    kafka.add_argument("action", choices=("start", "stop", "status"),
                       help="start, stop or report the broker of this checkout")
    kafka.set_defaults(func=_kafka)

    topics = sub.add_parser("topics", help="create the deployment's topics on the configured cluster")
    topics.add_argument("action", choices=("ensure",), help="ensure: create the missing topics (idempotent)")
    topics.add_argument("--replication-factor", type=int, default=1,
                        help="replicas of every topic (3 on a production cluster)")
    topics.add_argument("--min-insync", type=int, default=1, help="min.insync.replicas of every topic")
    topics.set_defaults(func=_topics)

    migrate = sub.add_parser("migrate", help="apply the services' schema migrations (the release job)")
    migrate.add_argument("services", nargs="*", metavar="SERVICE",
                         help=f"services to migrate: {', '.join(registry.NAMES)}")
    migrate.add_argument("--all", action="store_true", help="every service")
    migrate.set_defaults(func=_migrate)

    serve = sub.add_parser("serve", help="run one service (gRPC + its stream workers + /metrics)")
    serve.add_argument("service", help=f"the service to run: one of {', '.join(registry.NAMES)} "
                       "(services/registry.py); its settings come from the environment (README: configuration)")
    serve.set_defaults(func=_serve)

    run = sub.add_parser("run", help="Kafka + every service + the simulator at a live rate (`make run`)")
    run.add_argument("--rate", type=float, default=20.0, help="simulated transactions per second")
    run.add_argument("--customers", type=int, default=200, help="simulated customers")
    run.add_argument("--postgres", action="store_true",
                     help="every service on the embedded PostgreSQL (under the data dir) instead of SQLite files; "
                          "DATABASE_URL set: that server")
    run.add_argument("--replicas", type=int, default=1,
                     help="processes of every service, one consumer group each (scale-out: use with --postgres; "
                          "at most as many as a topic's partitions do work)")
    run.set_defaults(func=_run)

    token = sub.add_parser("token", help="development mode only: a bearer token signed with the development key")
    token.add_argument("--subject", required=True,
                       help="who the token is for: a customer id, an advisor or a service name")
    token.add_argument("--role", choices=[r.value for r in auth.Role], required=True, help="what the holder may do")
    token.add_argument("--queue", action="append", default=[],
                       help="an advisor queue the holder may work (repeat for several)")
    token.add_argument("--scope", action="append", default=[],
                       help="for --role service: an RPC it may call, e.g. fraud:ScoreTransaction")
    token.add_argument("--service", action="append", default=[], choices=registry.NAMES,
                       help="the audience (default: every service)")
    token.add_argument("--ttl", type=int, default=900, help="lifetime in seconds")
    token.add_argument("--step-up", action="store_true",
                       help="the holder has just authenticated strongly (acr, amr, auth_time): a customer needs it "
                            "to lift a card freeze (UnfreezeCard)")
    token.set_defaults(func=_token)

    certs = sub.add_parser("dev-certs", help="development only: a CA, certificates and an identity provider key "
                                             "for a local stack (docker compose)")
    certs.add_argument("--out", required=True, type=Path,
                       help="directory: dev-tls/ (CA, server and client certificates) and dev-identity/ (JWKS)")
    certs.add_argument("--host", action="append", default=[],
                       help="a DNS name the server certificate is for, besides localhost (repeatable)")
    certs.set_defaults(func=_dev_certs)

    bench = sub.add_parser("bench", help="benchmarks; last stdout line is JSON")
    bench.add_argument("name", help="runner, fraud, notify, scale or all")
    bench.add_argument("--out", help="also write the figures as JSON to this file")
    bench.add_argument("--only", choices=("replicas", "runner", "memory"),
                       help="scale: only this part (fraud replicas, runner vs bare consumer, RSS as customers grow)")
    bench.set_defaults(func=_bench)

    dead = sub.add_parser("dlq", help="dead letters: replay them to their source topic after a fix")
    dead_sub = dead.add_subparsers(dest="action", required=True)
    replay = dead_sub.add_parser("replay", help="re-produce the dead letters of TOPIC.dlq to TOPIC, each once")
    replay.add_argument("--topic", required=True, help="the source topic, e.g. transactions")
    replay.add_argument("--reason", help="only dead letters with this dlq.reason (e.g. handler_error)")
    replay.set_defaults(func=_dlq_replay)

    # each may add its own subcommands in `commands.py` (a web app's is how it is served); `serve` needs none of
    # them, and importing them all (training, the simulator) would cost every service process memory
    folders = (*registry.TOOLS, *registry.NAMES, *(w.name for w in registry.WEB_APPS)) if folder_commands else ()
    for name in folders:
        try:
            module = importlib.import_module(f"services.{name}.commands")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{name}.commands":
                raise
            continue
        module.register(sub)
    return parser


def _version() -> str:
    try:
        return metadata.version("proactive-care")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # A service process does not load the folders' commands: they import training, evaluation and the simulator
    # (scikit-learn, SciPy), about 220 MB of every replica's memory that serving never uses.
    args = build_parser(folder_commands=argv[:1] != ["serve"]).parse_args(argv)
    name = getattr(args, "service", None) or args.command
    logs.configure(name)
    tracing.configure(name)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C at any moment: a clean stop, never a traceback
        print("\ninterrupted", file=sys.stderr)
        return 130


def _kafka(args: argparse.Namespace) -> int:
    from services.devtools.kafka_launcher import EmbeddedKafka, ForeignBrokerError, port_open

    settings = Settings.from_env()
    broker = EmbeddedKafka(settings)
    if args.action == "start":
        if not settings.embedded_kafka:
            print(f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}: not starting an embedded broker")
            return 0
        try:
            broker.start()
        except ForeignBrokerError as exc:
            print(exc)
            return 1
        print(f"Kafka running on {settings.bootstrap_servers} (pid {broker.pid()}, data in {broker.data_dir})")
    elif args.action == "stop":
        was_up = port_open(settings.kafka_port)
        if broker.stop():
            print("Kafka stopped" if was_up else "no broker was running")
            return 0
        print(f"a broker still answers on port {settings.kafka_port} (pid {broker.pid()}); "
              "this checkout did not start it, so it was left running")
        return 1
    else:
        up = port_open(settings.kafka_port)
        answering = broker.answering_cluster_id() if up else None
        print(json.dumps({"bootstrap_servers": settings.bootstrap_servers, "answering": up, "pid": broker.pid(),
                          "cluster_id": answering, "ours": answering is not None and answering == broker.cluster_id()}))
        return 0 if up else 1
    return 0


def _topics(args: argparse.Namespace) -> int:
    from services.platform.kafka_io import ensure_topics

    if not 1 <= args.min_insync <= args.replication_factor:
        print("--min-insync must be between 1 and --replication-factor")
        return 2
    created = ensure_topics(Settings.from_env(), args.replication_factor, args.min_insync)
    print(json.dumps({"created": created}))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from services.platform.storage import Store

    names = registry.NAMES if args.all or not args.services else args.services
    unknown = sorted(set(names) - set(registry.NAMES))
    if unknown:
        print(f"unknown service {', '.join(unknown)}: choose from {', '.join(registry.NAMES)}")
        return 2
    settings = Settings.from_env()
    for name in names:
        store = Store.for_service(settings, name)
        try:
            store.migrate(registry.service(name).migrations)
        finally:
            store.close()
        print(json.dumps({"service": name, "migrated": True}), flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from services.platform import security
    from services.platform.app import RunningService, run_service

    try:
        service = registry.service(args.service)
    except registry.UnknownServiceError as exc:
        print(exc, file=sys.stderr)
        return 2
    settings = security.resolve(Settings.from_env())
    try:
        security.check_startup(settings)
    except security.StartupRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    app = _build_patiently(service, settings)

    def announce(running: RunningService) -> None:
        print(json.dumps({"service": args.service, "grpc_port": running.grpc_port,
                          "metrics_port": running.metrics_port}), flush=True)

    run_service(app, settings, announce=announce)
    return 0


def _build_patiently(service: Service, settings: Settings, patience_seconds: float = 120.0) -> ServiceApp:
    """`service.build(settings)`, tried again while it fails transiently (e.g. the database restarting as the process
    starts: a replacement started mid-outage comes up once the database is back, rather than exiting)."""
    from services.platform.errors import is_transient

    deadline, delay = time.monotonic() + patience_seconds, 0.5
    while True:
        try:
            return service.build(settings)
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() > deadline:
                raise
            print(f"starting: transient failure ({type(exc).__name__}: {str(exc)[:200]}); trying again in {delay} s",
                  file=sys.stderr, flush=True)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _run(args: argparse.Namespace) -> int:
    from services.devtools.devstack import run_stack

    if args.replicas < 1:
        print("--replicas must be at least 1")
        return 2
    return run_stack(Settings.from_env(), rate=args.rate, customers=args.customers, postgres=args.postgres,
                     replicas=args.replicas)


def _dlq_replay(args: argparse.Namespace) -> int:
    from services.platform.dead_letters import replay

    print(replay(Settings.from_env(), args.topic, args.reason).to_json(), flush=True)
    return 0


def _token(args: argparse.Namespace) -> int:
    from services.platform import security

    try:
        print(security.issue_dev_token(Settings.from_env(), args.subject, args.role,
                                       services=args.service or registry.NAMES, queues=args.queue,
                                       scopes=args.scope, ttl_seconds=args.ttl, step_up=args.step_up))
    except security.StartupRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def _dev_certs(args: argparse.Namespace) -> int:
    """Made once (existing files are kept); prints the settings a service of the stack points at them with."""
    from services.platform.dev_identity import DEV_ISSUER, ensure_dev_identity
    from services.platform.dev_tls import ensure_dev_tls

    tls = ensure_dev_tls(args.out / "dev-tls", hosts=args.host)
    identity = ensure_dev_identity(args.out / "dev-identity")
    for name, value in (("PROACTIVE_CARE_ENV", "development"), ("AUTH_JWKS_URL", identity.jwks_path),
                        ("AUTH_ISSUER", DEV_ISSUER), ("TLS_CERT_FILE", tls.server_cert_file),
                        ("TLS_KEY_FILE", tls.server_key_file), ("GRPC_TLS_CA_FILE", tls.ca_file)):
        print(f"{name}={value}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    # Benchmarks live with the tests (tests/perf), beside the source they measure: a source checkout. They run
    # as their own process; the product never imports the tests.
    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "perf").is_dir():
        print("benchmarks run from a source checkout (tests/perf not found)")
        return 2
    command = [sys.executable, "-m", "tests.perf.run", args.name, *(["--out", args.out] if args.out else []),
               *(["--only", args.only] if args.only else [])]
    return subprocess.run(command, cwd=root, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
