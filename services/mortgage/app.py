"""The mortgage service, declared: MortgageService + the care worker on `customers` + `transactions`."""

from __future__ import annotations

from services.gen.proactivecare.v1 import mortgage_pb2_grpc
from services.mortgage.metrics import MortgageMetrics
from services.mortgage.outcomes import OptionOutcomeHandler
from services.mortgage.repository import MIGRATIONS
from services.mortgage.service import MortgageServicer
from services.mortgage.worker import MortgageCareHandler, validate_profile
from services.platform import auth, streams, topics
from services.platform.app import Api, Context, Parts, Service
from services.platform.handlers import WithTopic

NAME = "mortgage"
ACCESS = {
    "CheckEligibility": auth.ALL_ROLES,   # reads no one's data
    "GetCareOptions": auth.ALL_ROLES,     # the servicer narrows a customer to itself (require_customer)
}


def assemble(ctx: Context) -> Parts:
    settings = ctx.settings
    # advisors' outcomes: a declined option is not offered again inside its window (outcomes.py)
    handler = WithTopic(MortgageCareHandler(settings.topic(topics.NOTIFICATIONS), settings.topic(topics.ADVISOR_TASKS),
                                            ctx.metrics, settings.topic(topics.CARE_FOLLOWUPS)),
                        settings.topic(topics.ADVISOR_OUTCOMES),
                        OptionOutcomeHandler())
    return Parts(servicer=MortgageServicer(ctx.store, ctx.metrics), handler=handler, worker="care",
                 sources=[streams.customer_profiles(settings, validate_profile), streams.transactions(settings),
                          streams.advisor_outcomes(settings)])


SERVICE = Service(NAME, MIGRATIONS, Api("proactivecare.v1.MortgageService",
                                        mortgage_pb2_grpc.add_MortgageServiceServicer_to_server, ACCESS),
                  assemble, metrics=MortgageMetrics.create)
