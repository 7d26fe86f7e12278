"""The notification gateway, declared: consumes `notifications` (and `customers` for time zones), serves the
app's NotificationService, and releases held notifications when their window ends."""

from __future__ import annotations

import asyncio
from datetime import datetime

from services.gen.proactivecare.v1 import notify_pb2_grpc
from services.notify.hub import SubscriberHub
from services.notify.metrics import NotifyMetrics, RoutingMetrics
from services.notify.repository import DELIVERED_CHANNEL, MIGRATIONS, NotifyRepository
from services.notify.routing import route
from services.notify.service import NotificationServicer
from services.notify.worker import NotificationHandler, sources
from services.platform.app import Api, Context, Parts, Service
from services.platform.auth import Role
from services.platform.clock import utc_now
from services.platform.storage import Store

NAME = "notify"
RELEASE_INTERVAL_SECONDS = 1.0
APP_ROLES = frozenset({Role.CUSTOMER, Role.SERVICE, Role.OPERATOR})
ACCESS = {
    "Subscribe": APP_ROLES,
    "Acknowledge": APP_ROLES,
    "ListNotifications": APP_ROLES | {Role.ADVISOR},
    "GetPreferences": APP_ROLES | {Role.ADVISOR},
    "UpdatePreferences": APP_ROLES,
}


def assemble(ctx: Context) -> Parts:
    store, metrics = ctx.store, ctx.metrics
    hub = SubscriberHub()
    # PostgreSQL: what any replica delivers wakes this replica's streams at once (SQLite: streams re-read)
    store.listen(DELIVERED_CHANNEL, lambda customer_id: hub.wake([customer_id]))

    async def release_held() -> None:
        """Held notifications whose window ended are routed again (delivered, or held further by a cap)."""
        while True:
            await asyncio.sleep(RELEASE_INTERVAL_SECONDS)
            await store.call(lambda: release_due(store, hub, metrics.routing))

    return Parts(servicer=NotificationServicer(store, hub, metrics.delivery),
                 handler=NotificationHandler(ctx.settings, hub, metrics.routing), sources=sources(ctx.settings),
                 background=[release_held])


def release_due(store: Store, hub: SubscriberHub, metrics: RoutingMetrics, now: datetime | None = None) -> int:
    now = now or utc_now()
    with store.transaction() as tx:
        repo = NotifyRepository(tx)
        due = repo.due_held(now)
        decisions = [(n, route(repo, n, now)) for n in due]
    for n, decision in decisions:
        metrics.count(n, decision)
    hub.wake(n.customer_id for n in due)
    return len(due)


SERVICE = Service(NAME, MIGRATIONS, Api("proactivecare.v1.NotificationService",
                                        notify_pb2_grpc.add_NotificationServiceServicer_to_server, ACCESS),
                  assemble, metrics=NotifyMetrics.create)
