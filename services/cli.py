"""`proactive-care`: the one console entry point."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from services.platform import auth, logs, tracing
from services.platform.settings import Settings

# Services with a folder of the same shape; each may add its own subcommands in `commands.py`.
COMMAND_MODULES = ("simulator", "fraud", "notify", "advice", "advisor", "mortgage")
STORE_SERVICES = ("fraud", "notify", "advice", "advisor", "mortgage")  # each with a store and its MIGRATIONS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="proactive-care", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    kafka = sub.add_parser("kafka", help="the embedded Apache Kafka broker")
    kafka.add_argument("action", choices=("start", "stop", "status"))
    kafka.set_defaults(func=_kafka)

    topics = sub.add_parser("topics", help="create the deployment's topics on the configured cluster")
    topics.add_argument("action", choices=("ensure",))
    topics.add_argument("--replication-factor", type=int, default=1)
    topics.add_argument("--min-insync", type=int, default=1, help="min.insync.replicas of every topic")
    topics.set_defaults(func=_topics)

    migrate = sub.add_parser("migrate", help="apply the services' schema migrations (the release job)")
    migrate.add_argument("services", nargs="*", metavar="SERVICE",
                         help=f"services to migrate: {', '.join(STORE_SERVICES)}")
    migrate.add_argument("--all", action="store_true", help="every service")
    migrate.set_defaults(func=_migrate)

    serve = sub.add_parser("serve", help="run one service (gRPC + its stream workers + /metrics)")
    serve.add_argument("service")
    serve.set_defaults(func=_serve)

    run = sub.add_parser("run", help="Kafka + every service + the simulator at a live rate (`make run`)")
    run.add_argument("--rate", type=float, default=20.0, help="simulated transactions per second")
    run.add_argument("--customers", type=int, default=200)
    run.add_argument("--postgres", action="store_true",
                     help="every service on the embedded PostgreSQL (under the data dir) instead of SQLite files; "
                          "DATABASE_URL set: that server")
    run.add_argument("--replicas", type=int, default=1,
                     help="processes of every service, one consumer group each (scale-out: use with --postgres; "
                          "at most as many as a topic's partitions do work)")
    run.set_defaults(func=_run)

    token = sub.add_parser("token", help="issue a bearer token signed with the configured key")
    token.add_argument("--subject", required=True)
    token.add_argument("--role", choices=[r.value for r in auth.Role], required=True)
    token.add_argument("--queue", action="append", default=[])
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=_token)

    bench = sub.add_parser("bench", help="benchmarks; last stdout line is JSON")
    bench.add_argument("name", help="runner, fraud, notify, scale or all")
    bench.add_argument("--out", help="also write the figures as JSON to this file")
    bench.set_defaults(func=_bench)

    dead = sub.add_parser("dlq", help="dead letters: replay them to their source topic after a fix")
    dead_sub = dead.add_subparsers(dest="action", required=True)
    replay = dead_sub.add_parser("replay", help="re-produce the dead letters of TOPIC.dlq to TOPIC, each once")
    replay.add_argument("--topic", required=True, help="the source topic, e.g. transactions")
    replay.add_argument("--reason", help="only dead letters with this dlq.reason (e.g. handler_error)")
    replay.set_defaults(func=_dlq_replay)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"services.{name}.commands")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{name}.commands" and exc.name != f"services.{name}":
                raise
            continue
        module.register(sub)

    args = parser.parse_args(argv)
    name = getattr(args, "service", None) or args.command
    logs.configure(name)
    tracing.configure(name)
    return int(args.func(args) or 0)


def _kafka(args: argparse.Namespace) -> int:
    from services.platform.kafka_launcher import EmbeddedKafka, port_open

    settings = Settings.from_env()
    broker = EmbeddedKafka(settings)
    if args.action == "start":
        if not settings.embedded_kafka:
            print(f"KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}: not starting an embedded broker")
            return 0
        broker.start()
        print(f"Kafka running on {settings.bootstrap_servers} (data in {broker.data_dir})")
    elif args.action == "stop":
        broker.stop()
        print("Kafka stopped")
    else:
        up = port_open(settings.kafka_port)
        print(json.dumps({"bootstrap_servers": settings.bootstrap_servers, "answering": up,
                          "pid": broker.running_pid()}))
        return 0 if up else 1
    return 0


def _topics(args: argparse.Namespace) -> int:
    from services.platform.kafka_launcher import ensure_topics

    if not 1 <= args.min_insync <= args.replication_factor:
        print("--min-insync must be between 1 and --replication-factor")
        return 2
    created = ensure_topics(Settings.from_env(), args.replication_factor, args.min_insync)
    print(json.dumps({"created": created}))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from services.platform.storage import Store

    names = STORE_SERVICES if args.all or not args.services else args.services
    unknown = sorted(set(names) - set(STORE_SERVICES))
    if unknown:
        print(f"unknown service {', '.join(unknown)}: choose from {', '.join(STORE_SERVICES)}")
        return 2
    settings = Settings.from_env()
    for name in names:
        store = Store.for_service(settings, name)
        try:
            store.migrate(importlib.import_module(f"services.{name}.repository").MIGRATIONS)
        finally:
            store.close()
        print(json.dumps({"service": name, "migrated": True}), flush=True)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from services.platform.app import RunningService, run_service

    settings = Settings.from_env()
    app_module = importlib.import_module(f"services.{args.service}.app")
    app = _build_patiently(app_module, settings)

    def announce(running: RunningService) -> None:
        print(json.dumps({"service": args.service, "grpc_port": running.grpc_port,
                          "metrics_port": running.metrics_port}), flush=True)

    run_service(app, settings, announce=announce)
    return 0


def _build_patiently(app_module: ModuleType, settings: Settings, patience_seconds: float = 120.0) -> Any:
    """`build(settings)`, tried again while it fails transiently (e.g. the database restarting as the process
    starts: a replacement started mid-outage comes up once the database is back, rather than exiting)."""
    from services.platform.errors import is_transient

    deadline, delay = time.monotonic() + patience_seconds, 0.5
    while True:
        try:
            return app_module.build(settings)
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() > deadline:
                raise
            print(f"starting: transient failure ({type(exc).__name__}: {str(exc)[:200]}); trying again in {delay} s",
                  file=sys.stderr, flush=True)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _run(args: argparse.Namespace) -> int:
    from services.platform.devstack import run_stack

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
    settings = Settings.from_env()
    print(auth.issue_token(settings.auth_secret, args.subject, args.role, queues=args.queue,
                           ttl_seconds=args.ttl))
    return 0


def _bench(args: argparse.Namespace) -> int:
    # Benchmarks live with the tests (tests/perf), beside the source they measure: a source checkout.
    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "perf").is_dir():
        print("benchmarks run from a source checkout (tests/perf not found)")
        return 2
    sys.path.insert(0, str(root))
    from tests.perf.run import run_benchmarks

    return run_benchmarks(Settings.from_env(), args.name, args.out)


if __name__ == "__main__":
    sys.exit(main())
