"""The advice service, declared: AdviceService + the transactions/customers stream worker."""

from __future__ import annotations

from services.advice.metrics import AdviceMetrics
from services.advice.policy import policy_book
from services.advice.repository import MIGRATIONS
from services.advice.service import AdviceServicer
from services.advice.worker import AdviceHandler, sources
from services.gen.proactivecare.v1 import advice_pb2_grpc
from services.platform.app import Api, Context, Parts, Service
from services.platform.auth import READERS, Role

NAME = "advice"
ACCESS = {
    "ListNudges": READERS,
    "RespondToNudge": frozenset({Role.CUSTOMER, Role.SERVICE}),
}


def assemble(ctx: Context) -> Parts:
    policies = policy_book()
    return Parts(servicer=AdviceServicer(ctx.store, policies, ctx.metrics),
                 handler=AdviceHandler(ctx.settings, policies, ctx.metrics), sources=sources(ctx.settings))


SERVICE = Service(NAME, MIGRATIONS, Api("proactivecare.v1.AdviceService",
                                        advice_pb2_grpc.add_AdviceServiceServicer_to_server, ACCESS),
                  assemble, metrics=AdviceMetrics.create)
