"""`backtest --kafka`: the history through the real pipeline. The profiles (to `customers`), then the transactions
in event-time order (to `transactions`, a day of history at a time: `_produce`), keyed by customer id as the stream
expects, are produced to a broker (the
one the settings name, or the embedded one started here when none answers); the fraud, advice and mortgage
services, built by the kernel as in production, run their own stream runners, each service on its own temporary
SQLite store, until each is done with every record produced to its topics. What they emitted is read back from
`notifications` and `advisor-tasks` (each id once, as the gateway and the advisor service store them) and routed
by the gateway's policy at each notification's own instant, as in-process: the notify service routes on arrival,
by the wall clock, so a history replayed in seconds would meet its quiet hours and caps at today's time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from services.backtest.replay import (
    BATCH,
    SERVICES,
    M,
    Replayed,
    once_per_id,
    route_notifications,
    service_options,
    watch_fraud,
)
from services.devtools.kafka_launcher import ensure_topics
from services.devtools.pipeline import broker, wait_done
from services.fraud.worker import FraudHandler
from services.gen.proactivecare.v1 import events_pb2
from services.platform import topics
from services.platform.app import ServiceApp
from services.platform.kafka_client import open_producer
from services.platform.kafka_io import Output, produce_all, read_to_end
from services.platform.progress import Progress
from services.platform.settings import Settings
from services.platform.storage import Store

CHUNK = 5_000  # records sent, then flushed, at a time


def replay_through_kafka(transactions: list[events_pb2.Transaction], profiles: list[events_pb2.CustomerProfile],
                         workdir: Path, model_dir: Path | None = None) -> Replayed:
    """`transactions` in time order. Profiles first, each service done with them before the first transaction
    (a bank's customers exist before their history)."""
    result = Replayed(stores={}, path="kafka")
    run = uuid.uuid4().hex[:8]
    with broker(Settings.from_env(), workdir / "kafka") as base:
        # the handlers see at most BATCH records at once, as in-process
        settings = base.with_overrides(topic_prefix=f"backtest{run}.", consumer_group_prefix=f"backtest{run}",
                                       data_dir=workdir / "data", database_url="", grpc_port=0, metrics_port=0,
                                       poll_max_records=BATCH)
        ensure_topics(settings)
        apps: list[ServiceApp] = []
        try:
            for service in SERVICES:
                apps.append(service.build(settings, **service_options(service, model_dir)))
            running = [app for app in apps if _start(app, result)]
            _produce(settings, topics.CUSTOMERS, profiles, running)
            _produce(settings, topics.TRANSACTIONS, transactions, running)
        finally:
            _stop(apps)
        result.notifications = _read(settings, topics.NOTIFICATIONS, events_pb2.Notification)
        result.advisor_tasks = _read(settings, topics.ADVISOR_TASKS, events_pb2.AdvisorTask)
    result.stores.update({app.name: Store.for_service(settings, app.name) for app in apps})
    route_notifications(result, profiles, settings)
    return result


def _start(app: ServiceApp, result: Replayed) -> bool:
    """Start the app's stream runners; False (and why, in `result.not_run`) when it has none, e.g. fraud
    without a model."""
    if not app.runners:
        result.not_run[app.name] = app.unready_reason() or "no stream worker"
        return False
    for runner in app.runners:
        if isinstance(runner.handler, FraudHandler):
            watch_fraud(runner.handler, result)
        runner.start()
    return True


def _produce(settings: Settings, topic: str,
             messages: Sequence[events_pb2.Transaction | events_pb2.CustomerProfile], apps: list[ServiceApp]) -> None:
    """Produce `messages` to `topic`, keyed by customer id, in their order, with the kernel's producer (a failed
    send raises: nothing is lost silently), and wait until every app reading the topic is done with them.

    Transactions go a day of history at a time, each day handled by every service before the next is sent. The
    fraud service's terminal and merchant windows are shared by customers on different partitions; produced all
    at once, a poll can bring weeks of one partition before another's, so a terminal would be judged without
    payments it already had, differently from run to run. A day apart at most, the partitions always meet the
    windows' delay (a week), as they do live, and with no feedback fed the recent-fraud features stay at zero: the
    same history gives the same alerts (issue 10)."""
    name = settings.topic(topic)
    readers = [app for app in apps if any(name in runner.sources for runner in app.runners)]
    producer = open_producer(settings)
    sent = 0
    try:
        with Progress(f"produced and handled {topic}", total=len(messages)) as progress:
            for step in _days(messages):
                for start in range(0, len(step), CHUNK):
                    outputs = (Output(name, m.customer_id, m.SerializeToString()) for m in step[start:start + CHUNK])
                    produce_all(producer, outputs, timeout=settings.produce_timeout_seconds)
                sent += len(step)
                for app in readers:
                    wait_done(app, {name: sent})
                progress.update(len(step))
    finally:
        producer.close()


def _days(messages: Sequence[events_pb2.Transaction | events_pb2.CustomerProfile]
          ) -> Iterator[Sequence[events_pb2.Transaction | events_pb2.CustomerProfile]]:
    """Consecutive runs of `messages` on one UTC day of their timestamps (profiles, which have none: all at once)."""
    start = 0
    for i in range(1, len(messages) + 1):
        if i == len(messages) or _day(messages[i]) != _day(messages[start]):
            yield messages[start:i]
            start = i


def _day(message: events_pb2.Transaction | events_pb2.CustomerProfile) -> int:
    return message.timestamp.seconds // 86_400 if isinstance(message, events_pb2.Transaction) else 0


def _read(settings: Settings, topic: str, kind: type[M]) -> list[M]:
    """What the services produced to `topic`, each id once."""
    return once_per_id(kind.FromString(record.value) for record in read_to_end(settings, topic))


def _stop(apps: list[ServiceApp]) -> None:
    """Stop every runner (each finishes its batch and commits), then the apps' stop hooks (stores closed)."""
    for app in apps:
        for runner in app.runners:
            runner.stop()
    for app in apps:
        for runner in app.runners:
            runner.join(30)
        for hook in app.on_stop:
            hook()
