"""`build(settings)`: the advice service = AdviceService + the transactions/customers stream worker."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.advice.metrics import AdviceMetrics
from services.advice.outcomes import OutcomeHandler, outcome_source
from services.advice.policy import load_policy_book
from services.advice.repository import MIGRATIONS
from services.advice.service import AdviceServicer, grpc_service
from services.advice.worker import AdviceHandler, sources
from services.platform.app import ServiceApp
from services.platform.handlers import WithTopic
from services.platform.runner import StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store
from services.platform.topics import ADVISOR_OUTCOMES

NAME = "advice"


def build(settings: Settings) -> ServiceApp:
    store = Store.for_service(settings, NAME)
    store.migrate(MIGRATIONS)
    registry = CollectorRegistry()
    metrics = AdviceMetrics.create(registry)
    policies = load_policy_book()
    # advisors' outcomes on advice's tasks teach the ranking as a customer's answer does
    learner = OutcomeHandler(policies, lambda kind, response: metrics.responses.labels(kind, response).inc())
    handler = WithTopic(AdviceHandler(settings, policies, metrics), settings.topic(ADVISOR_OUTCOMES), learner)
    runner = StreamRunner(settings, NAME, [*sources(settings), outcome_source(settings)], handler, store, registry)
    return ServiceApp(name=NAME, store=store, registry=registry,
                      grpc_services=[grpc_service(AdviceServicer(store, policies, metrics))],
                      runners=[runner],
                      on_stop=[store.close])
