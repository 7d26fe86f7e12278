"""`build(settings)`: the advisor service = AdvisorQueueService + the advisor-tasks worker + an SLA sweeper."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from services.advisor.metrics import AdvisorMetrics
from services.advisor.policy import policy_at
from services.advisor.repository import TaskRepository
from services.advisor.service import AdvisorQueueServicer, grpc_service
from services.advisor.worker import AdvisorTaskHandler, task_source
from services.platform.app import ServiceApp
from services.platform.runner import StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store

log = logging.getLogger(__name__)
SERVICE = "advisor"


def sweep_once(repo: TaskRepository, metrics: AdvisorMetrics) -> None:
    """Count newly breached SLAs and refresh the open-task gauges."""
    for queue, count in repo.mark_breaches().items():
        metrics.sla_breaches.labels(queue).inc(count)
    metrics.open_tasks.clear()
    for (queue, state), count in repo.open_counts().items():
        metrics.open_tasks.labels(queue, state).set(count)


def build(settings: Settings) -> ServiceApp:
    store = Store(settings.db_path(SERVICE))
    registry = CollectorRegistry()
    metrics = AdvisorMetrics.create(registry)
    repo = TaskRepository(store)
    runner = StreamRunner(settings, SERVICE, [task_source(settings)], AdvisorTaskHandler(repo, metrics), store,
                          registry)

    async def sla_sweeper() -> None:
        while True:
            try:
                await asyncio.to_thread(sweep_once, repo, metrics)
            except Exception:  # a failed sweep must not stop the next one
                log.exception("advisor SLA sweep failed")
            await asyncio.sleep(policy_at(repo.clock()).sla_sweep_seconds)

    return ServiceApp(name=SERVICE, store=store, registry=registry,
                      grpc_services=[grpc_service(AdvisorQueueServicer(repo, metrics))], runners=[runner],
                      background=[sla_sweeper], on_stop=[store.close])
