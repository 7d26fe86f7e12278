"""Advice routes a delicate case to an advisor queue over Kafka; the advisor service serves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.advice.app import SERVICE as ADVICE
from services.advisor.app import SERVICE as ADVISOR
from services.gen.proactivecare.v1 import advisor_pb2, advisor_pb2_grpc, common_pb2, events_pb2
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import CUSTOMERS, TRANSACTIONS
from tests.integration.conftest import wait_for
from tests.unit.advice.test_service_and_worker import transaction


def _short_every_month(produce, customer: str) -> None:
    """Pay of 2,000.00 on the 25th, spending 80.00 a day: the balance runs out before every payday."""
    profile = events_pb2.CustomerProfile(customer_id=customer, payday=25, segment="mass",
                                         monthly_income=common_pb2.Money(amount_minor=200_000, currency="GBP"))
    profile.products.add(id="acc-1", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT)
    produce(CUSTOMERS, customer, profile.SerializeToString())
    balance = 40_000
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for n in range(70):
        when = start + timedelta(days=n)
        if when.day == 25:
            balance += 200_000
            salary = transaction(f"{customer}-s{n}", when - timedelta(hours=6), 200_000, balance,
                                 channel=events_pb2.CHANNEL_SALARY, counterparty="cp_employer", description="Salary",
                                 customer=customer)
            salary.direction = events_pb2.DIRECTION_CREDIT
            produce(TRANSACTIONS, customer, salary.SerializeToString())
        balance -= 8_000
        spend = transaction(f"{customer}-t{n}", when, 8_000, balance, channel=events_pb2.CHANNEL_CARD_PRESENT,
                            counterparty="", description="Shop", customer=customer)
        produce(TRANSACTIONS, customer, spend.SerializeToString())


def test_repeated_shortfalls_reach_the_financial_support_queue(settings, produce, token) -> None:
    with ServiceThread(ADVICE.build(settings), settings), ServiceThread(ADVISOR.build(settings), settings) as adv:
        _short_every_month(produce, "C21")
        stub = advisor_pb2_grpc.AdvisorQueueServiceStub(
            connect(adv.target, token("ann", "advisor", queues=("financial-support",))))

        def queued() -> list:
            return list(stub.ListQueue(advisor_pb2.ListQueueRequest(queue="financial-support"), timeout=5).tasks)

        assert wait_for(lambda: len(queued()) == 1, timeout=180)  # 140 records one by one, on a loaded machine
        claimed = stub.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support"), timeout=10)
        assert claimed.task.task.kind == "REPEATED_SHORTFALL" and claimed.task.task.customer_id == "C21"
        assert claimed.task.priority > 0 and claimed.task.task.reasons
