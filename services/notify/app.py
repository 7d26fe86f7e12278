"""The notification gateway: consumes `notifications` (and `customers` for time zones), serves the app."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from services.gen.proactivecare.v1 import notify_pb2_grpc
from services.notify import repository
from services.notify.hub import SubscriberHub
from services.notify.routing import route
from services.notify.service import DeliveryMetrics, NotificationServicer
from services.notify.worker import NotificationHandler, RoutingMetrics, sources
from services.platform.app import ServiceApp
from services.platform.auth import Role
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
    store = Store(settings.db_path(NAME))
    store.migrate("notify-1", repository.SCHEMA)
    registry = CollectorRegistry()
    hub = SubscriberHub()
    routing_metrics = RoutingMetrics(registry)
    handler = NotificationHandler(settings, hub, routing_metrics)
    runner = StreamRunner(settings, NAME, sources(settings), handler, store, registry)
    servicer = NotificationServicer(store, hub, DeliveryMetrics(registry))
    grpc_service = GrpcService("proactivecare.v1.NotificationService", servicer,
                               notify_pb2_grpc.add_NotificationServiceServicer_to_server, ACCESS)

    async def release_held() -> None:
        """Held notifications whose window ended are routed again (delivered, or held further by a cap)."""
        while True:
            await asyncio.sleep(RELEASE_INTERVAL_SECONDS)
            release_due(store, hub, routing_metrics)

    return ServiceApp(NAME, store, registry, grpc_services=[grpc_service], runners=[runner],
                      background=[release_held])


def release_due(store: Store, hub: SubscriberHub, metrics: RoutingMetrics, now: float | None = None) -> int:
    now = time.time() if now is None else now
    with store.transaction() as tx:
        due = repository.due_held(tx, now)
        decisions = [(n, route(tx, n, now)) for n in due]
    for n, decision in decisions:
        metrics.count(n, decision)
    hub.wake(n.customer_id for n in due)
    return len(due)
