"""`build(settings)`: the advisor service = AdvisorQueueService + the advisor-tasks worker + an SLA sweeper."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry

from services.advisor.context import ContextGatherer
from services.advisor.metrics import AdvisorMetrics
from services.advisor.outcomes import OutcomePublisher
from services.advisor.policy import policy_at
from services.advisor.repository import MIGRATIONS, TaskRepository
from services.advisor.service import AdvisorQueueServicer, grpc_service
from services.advisor.worker import AdvisorTaskHandler, task_source
from services.platform.app import ServiceApp
from services.platform.clock import utc_now
from services.platform.kafka_io import make_producer
from services.platform.runner import StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store

log = logging.getLogger(__name__)
NAME = "advisor"


def sweep_once(store: Store, metrics: AdvisorMetrics, clock: Callable[[], datetime] = utc_now) -> None:
    """Count newly breached SLAs and refresh the open-task gauges (counts, and the oldest task's age)."""
    with store.transaction() as tx:
        repo = TaskRepository(tx, clock)
        breaches, counts, oldest = repo.mark_breaches(), repo.open_counts(), repo.oldest_open()
    for queue, count in breaches.items():
        metrics.sla_breaches.labels(queue).inc(count)
    metrics.open_tasks.clear()
    for (queue, state), count in counts.items():
        metrics.open_tasks.labels(queue, state).set(count)
    metrics.oldest_open_age.clear()
    now = clock()
    for queue, raised in oldest.items():
        metrics.oldest_open_age.labels(queue).set(max(0.0, (now - raised).total_seconds()))


def build(settings: Settings) -> ServiceApp:
    store = Store.for_service(settings, NAME)
    store.migrate(MIGRATIONS)
    registry = CollectorRegistry()
    metrics = AdvisorMetrics.create(registry)
    runner = StreamRunner(settings, NAME, [task_source(settings)], AdvisorTaskHandler(metrics), store,
                          registry)

    async def sla_sweeper() -> None:
        while True:
            try:
                await store.call(lambda: sweep_once(store, metrics))
            except Exception:  # a failed sweep must not stop the next one
                log.exception("advisor SLA sweep failed")
            await asyncio.sleep(policy_at(utc_now()).sla_sweep_seconds)

    # the case view reads the other services with the caller's token; completions go to `advisor-outcomes`
    outcomes = OutcomePublisher(settings, lambda: make_producer(settings))
    servicer = AdvisorQueueServicer(store, metrics, context=ContextGatherer(settings), outcomes=outcomes)
    return ServiceApp(name=NAME, store=store, registry=registry,
                      grpc_services=[grpc_service(servicer)], runners=[runner],
                      background=[sla_sweeper], on_stop=[store.close, outcomes.close])
