"""The advisor service, declared: AdvisorQueueService + the advisor-tasks worker + an SLA sweeper."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from services.advisor.care_effect import MIGRATIONS as EFFECT_MIGRATIONS
from services.advisor.care_effect import FollowUpHandler, followup_source
from services.advisor.context import ContextGatherer
from services.advisor.metrics import AdvisorMetrics
from services.advisor.outcomes import MIGRATIONS as OUTBOX_MIGRATIONS
from services.advisor.outcomes import OutcomeRelay
from services.advisor.policy import policy_at
from services.advisor.repository import MIGRATIONS, TaskRepository
from services.advisor.service import AdvisorQueueServicer
from services.advisor.worker import AdvisorTaskHandler, task_source
from services.gen.proactivecare.v1 import advisor_pb2_grpc
from services.platform.app import Api, Context, Parts, Service
from services.platform.auth import STAFF_ROLES
from services.platform.clock import utc_now
from services.platform.handlers import WithTopic
from services.platform.kafka_client import open_producer
from services.platform.storage import Store
from services.platform.topics import CARE_FOLLOWUPS

log = logging.getLogger(__name__)
NAME = "advisor"
ACCESS = {method: STAFF_ROLES for method in ("ClaimNext", "Complete", "Snooze", "Release", "ListQueue", "WatchQueue",
                                             "GetTaskContext", "RenewLease", "GetCareEffect")}


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


def assemble(ctx: Context) -> Parts:
    store, metrics = ctx.store, ctx.metrics

    async def sla_sweeper() -> None:
        while True:
            try:
                await store.call(lambda: sweep_once(store, metrics))
            except Exception:  # a failed sweep must not stop the next one
                log.exception("advisor SLA sweep failed")
            await asyncio.sleep(policy_at(utc_now()).sla_sweep_seconds)

    # the case view reads the other services with the caller's token; completions go to `advisor-outcomes`
    settings = ctx.settings
    outcomes = OutcomeRelay(store, settings, lambda: open_producer(settings), metrics)
    servicer = AdvisorQueueServicer(store, metrics, context=ContextGatherer(settings), outcomes=outcomes)
    # what became of the warnings the other services gave (care_effect.py): the console's "did the care work?"
    handler = WithTopic(AdvisorTaskHandler(metrics), settings.topic(CARE_FOLLOWUPS), FollowUpHandler())
    return Parts(servicer=servicer, handler=handler, sources=[task_source(settings), followup_source(settings)],
                 background=[sla_sweeper, outcomes.run], on_stop=[outcomes.close])


SERVICE = Service(NAME, [*MIGRATIONS, *EFFECT_MIGRATIONS, *OUTBOX_MIGRATIONS],
                  Api("proactivecare.v1.AdvisorQueueService",
                      advisor_pb2_grpc.add_AdvisorQueueServiceServicer_to_server, ACCESS),
                  assemble, metrics=AdvisorMetrics.create)
