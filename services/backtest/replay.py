"""Replay a history in event-time order through the real handlers, in-process, each on a temporary store: the
fraud worker (when a model is there), the advice worker and the mortgage care worker, with the same code and
policies as production; then every notification they produced through the notification gateway's routing
(quiet hours, caps, opt-outs) at the instant it was created."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from prometheus_client import CollectorRegistry

from services.advice.app import SERVICE as ADVICE
from services.fraud.app import SERVICE as FRAUD
from services.fraud.decision import FraudDecision
from services.fraud.worker import FraudHandler
from services.gen.proactivecare.v1 import events_pb2
from services.mortgage.app import SERVICE as MORTGAGE
from services.notify.repository import MIGRATIONS as NOTIFY_MIGRATIONS
from services.notify.repository import NotifyRepository
from services.notify.routing import route
from services.platform import topics
from services.platform.app import Context, Parts, Service
from services.platform.progress import Progress
from services.platform.runner import Record
from services.platform.settings import Settings
from services.platform.storage import Store

BATCH = 500  # transactions a handler sees at once, like a poll batch
SERVICES = (FRAUD, ADVICE, MORTGAGE)
M = TypeVar("M", events_pb2.Notification, events_pb2.AdvisorTask)


@dataclass
class Replayed:
    stores: dict[str, Store]
    notifications: list[events_pb2.Notification] = field(default_factory=list)
    advisor_tasks: list[events_pb2.AdvisorTask] = field(default_factory=list)
    routed: dict[str, str] = field(default_factory=dict)      # notification id -> routing outcome
    fraud_scores: dict[str, float] = field(default_factory=dict)  # card payment id -> the model's score
    not_run: dict[str, str] = field(default_factory=dict)     # service -> why it did not run
    path: str = "in-process"                                   # or "kafka": through the real pipeline

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


def replay(transactions: list[events_pb2.Transaction], profiles: list[events_pb2.CustomerProfile],
           workdir: Path, model_dir: Path | None = None) -> Replayed:
    """`transactions` in time order. Profiles first (a bank's customers exist before their history)."""
    settings = Settings().with_overrides(data_dir=workdir, environment="development")
    result = Replayed(stores={})
    handlers: dict[str, Callable[[list[Record]], None]] = {}
    for service in SERVICES:
        store, parts = _assemble(service, settings, service_options(service, model_dir))
        result.stores[service.name] = store
        if parts.handler is None:
            result.not_run[service.name] = next((r for check in parts.checks if (r := check())), "no handler")
            continue
        if isinstance(parts.handler, FraudHandler):
            watch_fraud(parts.handler, result)
        handlers[service.name] = _runner(parts, store, result)
    profile_records = [Record(settings.topic(topics.CUSTOMERS), 0, i, p.customer_id, f"customers/{i}", p, 0)
                       for i, p in enumerate(profiles)]
    for name, handle in handlers.items():
        if name != "fraud":
            handle(profile_records)
    with Progress("backtest replay", total=len(transactions), unit="transactions") as progress:
        for start in range(0, len(transactions), BATCH):
            batch = [Record(settings.topic(topics.TRANSACTIONS), 0, start + i, t.customer_id, f"transactions/{t.id}",
                            t, t.timestamp.seconds * 1000) for i, t in enumerate(transactions[start:start + BATCH])]
            for handle in handlers.values():
                handle(batch)
            progress.update(len(batch))
    result.notifications = once_per_id(result.notifications)
    result.advisor_tasks = once_per_id(result.advisor_tasks)
    route_notifications(result, profiles, settings)
    return result


def once_per_id(messages: Iterable[M]) -> list[M]:
    """Each notification or advisor task once, the first of its id: the gateway and the advisor service store
    each id once (a task stays open while its reason lasts, and is emitted again meanwhile)."""
    first: dict[str, M] = {}
    for message in messages:
        first.setdefault(message.id, message)
    return list(first.values())


def service_options(service: Service, model_dir: Path | None) -> dict[str, Path]:
    """What `assemble` is given besides the context: the fraud model to use, when named."""
    return {"model_dir": model_dir} if service is FRAUD and model_dir is not None else {}


def watch_fraud(handler: FraudHandler, result: Replayed) -> None:
    """Every scored card payment's score into `result.fraud_scores` (for AUC/AP, not only the alerts'), and the
    handler's clock on the history's time: the latest payment it has scored. An alert is dated by its own payment,
    as production dates it milliseconds after the payment arrives, and not by the batch it came in: a replay's
    batch spans hours of history, and through Kafka which payments share a batch varies from run to run."""
    latest = [datetime.fromtimestamp(0, UTC)]

    def observe(records: Sequence[Record], decisions: Sequence[FraudDecision]) -> None:
        result.fraud_scores.update((r.value.id, d.score) for r, d in zip(records, decisions, strict=True))
        newest = max(r.value.timestamp.seconds for r in records)
        latest[0] = max(latest[0], datetime.fromtimestamp(newest, UTC))

    handler.observe = observe
    handler.clock = lambda: latest[0]
    handler.raised_at = lambda event, _now: datetime.fromtimestamp(event.ts, UTC)


def _assemble(service: Service, settings: Settings, options: dict) -> tuple[Store, Parts]:
    store = Store.for_service(settings, service.name)
    store.migrate(service.migrations)
    registry = CollectorRegistry()
    return store, service.assemble(Context(settings, store, registry, service.metrics(registry)), **options)


def _runner(parts: Parts, store: Store, result: Replayed) -> Callable[[list[Record]], None]:
    handler = parts.handler
    assert handler is not None

    def handle(records: list[Record]) -> None:
        with store.transaction() as tx:
            outputs = handler.handle(records, tx)
        committed = getattr(handler, "committed", None)
        if committed is not None:  # as the runner does once the batch's transaction committed
            committed(records)
        for produced in outputs.values():
            for out in produced:
                if out.topic.endswith(topics.NOTIFICATIONS):
                    result.notifications.append(events_pb2.Notification.FromString(out.value))
                elif out.topic.endswith(topics.ADVISOR_TASKS):
                    result.advisor_tasks.append(events_pb2.AdvisorTask.FromString(out.value))

    return handle


def route_notifications(result: Replayed, profiles: list[events_pb2.CustomerProfile], settings: Settings) -> None:
    """The gateway's decision for each notification at the instant it was created (not the replay's clock)."""
    store = Store.for_service(settings, "notify")
    store.migrate(NOTIFY_MIGRATIONS)
    result.stores["notify"] = store
    with store.transaction() as tx:
        repo = NotifyRepository(tx)
        for p in profiles:
            if p.time_zone:
                repo.save_time_zone(p.customer_id, p.time_zone)
        for n in sorted(result.notifications, key=lambda n: (n.created_at.seconds, n.id)):
            at = n.created_at.ToDatetime(tzinfo=UTC)
            if repo.insert(n, at, None):
                result.routed[n.id] = route(repo, n, at).outcome.value
