"""MortgageService over gRPC: eligibility on demand, and care options for an existing borrower.

CheckEligibility is open to any authenticated caller (it reads nothing about anyone). GetCareOptions reads
the customer's mortgage from the profile store the worker fills from the `customers` topic; a customer may
ask only about itself (`auth.require_customer`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import grpc

from services.gen.proactivecare.v1 import events_pb2, mortgage_pb2, mortgage_pb2_grpc
from services.mortgage import proto_mapping as pm
from services.mortgage.care import care_options
from services.mortgage.eligibility import check_eligibility
from services.mortgage.metrics import MortgageMetrics
from services.mortgage.model import ExistingMortgage
from services.mortgage.outcomes import declined_within
from services.mortgage.policy import policy_in_force
from services.mortgage.repository import MortgageRepository
from services.platform import auth
from services.platform.clock import utc_today
from services.platform.errors import NotFoundError, ValidationError
from services.platform.storage import Store
from services.platform.validation import require_id


class MortgageServicer(mortgage_pb2_grpc.MortgageServiceServicer):
    def __init__(self, store: Store, metrics: MortgageMetrics, today: Callable[[], date] = utc_today) -> None:
        self.store = store
        self.metrics = metrics
        self.today = today

    async def CheckEligibility(self, request: mortgage_pb2.CheckEligibilityRequest,
                               context: grpc.aio.ServicerContext) -> mortgage_pb2.CheckEligibilityResponse:
        result = check_eligibility(pm.eligibility_request(request, self.today()))
        self.metrics.eligibility.labels(request.jurisdiction.strip().upper(), result.outcome.value).inc()
        return pm.eligibility_response(result)

    async def GetCareOptions(self, request: mortgage_pb2.GetCareOptionsRequest,
                             context: grpc.aio.ServicerContext) -> mortgage_pb2.GetCareOptionsResponse:
        require_id(request.customer_id, "customer_id")
        auth.require_customer(request.customer_id)
        profile = await self.store.reading(lambda tx: MortgageRepository(tx).profile(request.customer_id))
        mortgage = self._mortgage(profile, request.customer_id, request.mortgage_id)
        today = self.today()
        response = pm.care_response(care_options(request.customer_id, mortgage, today))
        policy = policy_in_force(mortgage.jurisdiction, today, field="mortgage.jurisdiction")
        declined = await self.store.reading(lambda tx: declined_within(tx, request.customer_id, today, policy))
        if declined:  # declined with an advisor inside the window: not offered again (outcomes.py)
            kept = [o for o in response.options if o.code not in declined]
            del response.options[:]
            response.options.extend(kept)
        return response

    @staticmethod
    def _mortgage(profile: events_pb2.CustomerProfile | None, customer_id: str, mortgage_id: str,
                  ) -> ExistingMortgage:
        found = pm.mortgages(profile) if profile is not None else []
        if not found:
            raise NotFoundError(f"no mortgage on file for customer {customer_id}")
        if mortgage_id:
            for m in found:
                if m.id == mortgage_id:
                    return m
            raise NotFoundError(f"customer {customer_id} has no mortgage {mortgage_id}")
        if len(found) > 1:
            raise ValidationError("mortgage_id", f"the customer has {len(found)} mortgages: say which one")
        return found[0]
