"""A fraud service over a real store and a real gRPC server, with the unit tests' stub model (no training)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.fraud.app import SERVICE
from services.fraud.metrics import FraudMetrics
from services.fraud.repository import MIGRATIONS
from services.fraud.service import FraudServicer
from services.fraud.worker import FraudHandler
from services.platform.app import ServiceApp
from services.platform.settings import Settings
from services.platform.storage import Store
from tests.unit.fraud.test_worker import make_handler, records, run


def fraud_app(settings: Settings) -> tuple[ServiceApp, FraudHandler]:
    store = Store.for_service(settings, "fraud")
    store.migrate(MIGRATIONS)
    handler = make_handler(store)
    registry = CollectorRegistry()
    servicer = FraudServicer(settings, handler.scorer, store, FraudMetrics.create(registry))
    app = ServiceApp(name="fraud", store=store, registry=registry, grpc_services=[SERVICE.api.serving(servicer)],
                     on_stop=[servicer.close, store.close])
    return app, handler


__all__ = ["fraud_app", "records", "run"]
