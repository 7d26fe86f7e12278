"""AdviceService: a customer's nudges, and the customer's answer to one (which teaches the ranking)."""

from __future__ import annotations

import grpc

from services.advice.metrics import AdviceMetrics
from services.advice.outcomes import record_answer
from services.advice.policy import Policy
from services.advice.repository import AdviceRepository
from services.gen.proactivecare.v1 import advice_pb2, advice_pb2_grpc
from services.platform import auth, enums
from services.platform.clock import Clock, utc_now
from services.platform.errors import NotFoundError
from services.platform.paging import cut_page, read_page
from services.platform.policy_book import PolicyBook
from services.platform.storage import Store
from services.platform.validation import require, require_id


def validate_list(request: advice_pb2.ListNudgesRequest) -> tuple[int, int]:
    """(offset, page size) of a valid request."""
    require_id(request.customer_id, "customer_id")
    offset, size = read_page(request.page)
    return offset, size


def validate_response(request: advice_pb2.RespondToNudgeRequest) -> str:
    """The response's name, for a valid request."""
    require_id(request.nudge_id, "nudge_id")
    require(request.response in advice_pb2.NudgeResponse.values(), "response", "is not a known response")
    require(request.response != advice_pb2.NUDGE_RESPONSE_UNSPECIFIED, "response",
            "must be HELPFUL, NOT_HELPFUL, ACTED or DISMISSED")
    return enums.short_name(advice_pb2.NudgeResponse, request.response)


class AdviceServicer(advice_pb2_grpc.AdviceServiceServicer):
    def __init__(self, store: Store, policies: PolicyBook[Policy], metrics: AdviceMetrics,
                 clock: Clock = utc_now) -> None:
        self.store = store
        self.policies = policies
        self.metrics = metrics
        self.clock = clock

    async def ListNudges(self, request: advice_pb2.ListNudgesRequest, context: grpc.aio.ServicerContext,
                         ) -> advice_pb2.ListNudgesResponse:
        offset, size = validate_list(request)
        auth.require_customer(request.customer_id)
        nudges = await self.store.reading(
            lambda tx: AdviceRepository(tx).list_nudges(request.customer_id, offset, size + 1))
        nudges, page = cut_page(nudges, offset, size)
        return advice_pb2.ListNudgesResponse(nudges=nudges, page=page)

    async def RespondToNudge(self, request: advice_pb2.RespondToNudgeRequest, context: grpc.aio.ServicerContext,
                             ) -> advice_pb2.RespondToNudgeResponse:
        response = validate_response(request)
        found = await self.store.reading(lambda tx: AdviceRepository(tx).get_nudge(request.nudge_id))
        # another customer's nudge is answered as a missing one (ids cannot be probed)
        auth.require_owner(found[0].customer_id if found is not None else None, "nudge")
        return advice_pb2.RespondToNudgeResponse(
            nudge=await self.store.call(lambda: self.respond(request.nudge_id, response)))

    def respond(self, nudge_id: str, response: str) -> advice_pb2.Nudge:
        """Record the answer; the first answer to a nudge trains the bandit and the customer's fatigue record.
        A repeated answer changes the stored response only (it never counts twice)."""
        now = self.clock()
        policy = self.policies.at(now)
        with self.store.transaction() as tx:
            repo = AdviceRepository(tx)
            found = repo.get_nudge(nudge_id)
            if found is None:
                raise NotFoundError(f"nudge {nudge_id} not found")
            nudge, context = found
            record_answer(repo, nudge, context, response, now, policy)  # an advisor's outcome learns the same way
        self.metrics.responses.labels(nudge.type, response).inc()
        return nudge
