"""The notification gateway: consumes `notifications` (and `customers` for time zones), serves the app."""

from __future__ import annotations

import asyncio
from datetime import datetime

from prometheus_client import CollectorRegistry

from services.gen.proactivecare.v1 import notify_pb2_grpc
from services.notify.hub import SubscriberHub
from services.notify.metrics import DeliveryMetrics, RoutingMetrics
from services.notify.repository import DELIVERED_CHANNEL, MIGRATIONS, NotifyRepository
from services.notify.routing import route
from services.notify.service import NotificationServicer
from services.notify.worker import NotificationHandler, sources
from services.platform.app import ServiceApp
from services.platform.auth import Role
from services.platform.clock import utc_now
from services.platform.grpc_server import GrpcService
from services.platform.runner import StreamRunner
from services.platform.settings import Settings
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


def build(settings: Settings) -> ServiceApp:
    store = Store.for_service(settings, NAME)
    store.migrate(MIGRATIONS)
    registry = CollectorRegistry()
    hub = SubscriberHub()
    routing_metrics = RoutingMetrics(registry)
    handler = NotificationHandler(settings, hub, routing_metrics)
    runner = StreamRunner(settings, NAME, sources(settings), handler, store, registry)
    servicer = NotificationServicer(store, hub, DeliveryMetrics(registry))
    # PostgreSQL: what any replica delivers wakes this replica's streams at once (SQLite: streams re-read)
    store.listen(DELIVERED_CHANNEL, lambda customer_id: hub.wake([customer_id]))
    grpc_service = GrpcService("proactivecare.v1.NotificationService", servicer,
                               notify_pb2_grpc.add_NotificationServiceServicer_to_server, ACCESS)

    async def release_held() -> None:
        """Held notifications whose window ended are routed again (delivered, or held further by a cap)."""
        while True:
            await asyncio.sleep(RELEASE_INTERVAL_SECONDS)
            await store.call(lambda: release_due(store, hub, routing_metrics))

    return ServiceApp(NAME, store, registry, grpc_services=[grpc_service], runners=[runner],
                      background=[release_held], on_stop=[store.close])


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
