"""Wiring of the mortgage service: the gRPC MortgageService, the care worker on `customers` + `transactions`,
its store and its metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.gen.proactivecare.v1 import mortgage_pb2_grpc
from services.mortgage.metrics import MortgageMetrics
from services.mortgage.outcomes import OptionOutcomeHandler, outcome_source
from services.mortgage.repository import MIGRATIONS
from services.mortgage.service import MortgageServicer
from services.mortgage.worker import MortgageCareHandler, validate_profile
from services.platform import auth, streams, topics
from services.platform.app import ServiceApp
from services.platform.grpc_server import GrpcService
from services.platform.handlers import WithTopic
from services.platform.runner import StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store

NAME = "mortgage"
GRPC_NAME = "proactivecare.v1.MortgageService"
ACCESS = {
    "CheckEligibility": auth.ALL_ROLES,   # reads no one's data
    "GetCareOptions": auth.ALL_ROLES,     # the servicer narrows a customer to itself (require_customer)
}


def build(settings: Settings) -> ServiceApp:
    store = Store.for_service(settings, NAME)
    store.migrate(MIGRATIONS)
    registry = CollectorRegistry()
    metrics = MortgageMetrics.create(registry)
    sources = [streams.customer_profiles(settings, validate_profile), streams.transactions(settings),
               outcome_source(settings)]
    # advisors' outcomes: a declined option is not offered again inside its window (outcomes.py)
    handler = WithTopic(MortgageCareHandler(settings.topic(topics.NOTIFICATIONS), settings.topic(topics.ADVISOR_TASKS),
                                            metrics), settings.topic(topics.ADVISOR_OUTCOMES), OptionOutcomeHandler())
    runner = StreamRunner(settings, NAME, sources, handler, store, registry, name="care")
    service = GrpcService(GRPC_NAME, MortgageServicer(store, metrics),
                          mortgage_pb2_grpc.add_MortgageServiceServicer_to_server, ACCESS)
    return ServiceApp(NAME, store, registry, grpc_services=[service], runners=[runner], on_stop=[store.close])
