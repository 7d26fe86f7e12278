"""The advice service, declared: AdviceService + the transactions/customers stream worker, which also learns
from advisors' outcomes on advice's tasks (`advisor-outcomes`) as from a customer's answer."""

from __future__ import annotations

from services.advice.metrics import AdviceMetrics
from services.advice.outcomes import OutcomeHandler
from services.advice.policy import policy_book
from services.advice.repository import MIGRATIONS
from services.advice.service import AdviceServicer
from services.advice.worker import AdviceHandler, sources
from services.gen.proactivecare.v1 import advice_pb2_grpc
from services.platform import streams
from services.platform.app import Api, Context, Parts, Service
from services.platform.auth import READERS, Role
from services.platform.handlers import WithTopic
from services.platform.topics import ADVISOR_OUTCOMES

NAME = "advice"
ACCESS = {
    "ListNudges": READERS,
    "RespondToNudge": frozenset({Role.CUSTOMER, Role.SERVICE}),
}


def assemble(ctx: Context) -> Parts:
    policies, metrics = policy_book(), ctx.metrics
    learner = OutcomeHandler(policies, lambda kind, response: metrics.responses.labels(kind, response).inc())
    handler = WithTopic(AdviceHandler(ctx.settings, policies, metrics), ctx.settings.topic(ADVISOR_OUTCOMES),
                        learner)
    return Parts(servicer=AdviceServicer(ctx.store, policies, metrics), handler=handler,
                 sources=[*sources(ctx.settings), streams.advisor_outcomes(ctx.settings)])


SERVICE = Service(NAME, MIGRATIONS, Api("proactivecare.v1.AdviceService",
                                        advice_pb2_grpc.add_AdviceServiceServicer_to_server, ACCESS),
                  assemble, metrics=AdviceMetrics.create)
