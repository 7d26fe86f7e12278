"""Advisors' outcomes reach mortgage care: an option a customer declined with an advisor is not offered again
inside its window; an accepted one is kept on record (over the real broker and real gRPC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.gen.proactivecare.v1 import events_pb2, mortgage_pb2, mortgage_pb2_grpc
from services.mortgage.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import ADVISOR_OUTCOMES, CUSTOMERS
from tests.integration.conftest import wait_for
from tests.integration.mortgage.test_mortgage_service import profile
from tests.stores import rows


def outcome(task_id: str, outcome: str, option: str, source: str = "mortgage") -> events_pb2.AdvisorOutcome:
    event = events_pb2.AdvisorOutcome(task_id=task_id, customer_id="DECL", queue="mortgage-care",
                                      kind="PAYMENT_DIFFICULTY", source=source, outcome=outcome, advisor="ann",
                                      option_code=option)
    event.completed_at.FromDatetime(datetime.now(UTC).replace(tzinfo=None))
    return event


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_declined_option_is_not_offered_again_and_an_accepted_one_is_recorded(settings, produce, token) -> None:
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        produce(CUSTOMERS, "DECL", profile("DECL").SerializeToString())
        stub = mortgage_pb2_grpc.MortgageServiceStub(connect(svc.target, token("DECL")))

        def codes() -> set[str]:
            try:
                care = stub.GetCareOptions(mortgage_pb2.GetCareOptionsRequest(customer_id="DECL"), timeout=10)
            except Exception:
                return set()
            return {o.code for o in care.options}

        assert wait_for(lambda: "PAYMENT_HOLIDAY" in codes(), timeout=60)
        for event in (outcome("t-1", "OFFER_DECLINED", "PAYMENT_HOLIDAY"),
                      outcome("t-1", "OFFER_DECLINED", "PAYMENT_HOLIDAY"),  # redelivered: recorded once
                      outcome("t-2", "OFFER_ACCEPTED", "TERM_EXTENSION"),
                      outcome("t-3", "OFFER_DECLINED", "INTEREST_ONLY", source="advice")):  # not mortgage's
            produce(ADVISOR_OUTCOMES, event.customer_id, event.SerializeToString())
        assert wait_for(lambda: "PAYMENT_HOLIDAY" not in codes(), timeout=60)
        assert "INTEREST_ONLY" in codes()
        query = "SELECT task_id, option_code, accepted FROM mortgage_option_outcomes ORDER BY task_id"
        assert wait_for(lambda: len(rows(svc.app.store, query)) == 2, timeout=60)
        recorded = rows(svc.app.store, query)
        assert [(r.task_id, r.option_code, bool(r.accepted)) for r in recorded] == [
            ("t-1", "PAYMENT_HOLIDAY", False), ("t-2", "TERM_EXTENSION", True)]
