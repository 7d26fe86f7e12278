"""The mortgage service over a real Kafka broker and real gRPC: a customer whose salary stops gets one care
offer before the payment is due; one whose salary is a day late gets none; the options and eligibility
answer over gRPC with the platform's auth and error mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.gen.proactivecare.v1 import common_pb2, events_pb2, mortgage_pb2, mortgage_pb2_grpc
from services.mortgage.app import SERVICE
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import ADVISOR_TASKS, CUSTOMERS, NOTIFICATIONS, TRANSACTIONS
from tests.integration.conftest import read_topic, wait_for


def gbp(minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency="GBP")


def profile(customer: str, *, in_arrears: bool = False) -> events_pb2.CustomerProfile:
    p = events_pb2.CustomerProfile(customer_id=customer, time_zone="Europe/London", payday=25,
                                   monthly_income=gbp(2_500_00), credit_score=720)
    p.products.add(id=f"{customer}-acc", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT, balance=gbp(1_000_00),
                   overdraft_limit=gbp(500_00))
    mortgage = events_pb2.Mortgage(id=f"{customer}-mtg", jurisdiction="UK", balance=gbp(150_000_00), rate_bps=450,
                                   remaining_term_months=240, monthly_payment=gbp(948_97), payment_day=1,
                                   property_value=gbp(300_000_00), in_arrears=in_arrears)
    p.products.add(id=mortgage.id, type=events_pb2.PRODUCT_TYPE_MORTGAGE, balance=mortgage.balance, mortgage=mortgage)
    return p


def tx(customer: str, n: int, day: date, amount: int, *, salary: bool = False) -> events_pb2.Transaction:
    t = events_pb2.Transaction(
        id=f"{customer}-{n}", customer_id=customer, account_id=f"{customer}-acc", amount=gbp(amount),
        direction=events_pb2.DIRECTION_CREDIT if salary else events_pb2.DIRECTION_DEBIT,
        channel=events_pb2.CHANNEL_SALARY if salary else events_pb2.CHANNEL_CARD_PRESENT,
        balance_after=gbp(2_000_00), timestamp=Timestamp(seconds=int(datetime(
            day.year, day.month, day.day, 9, tzinfo=UTC).timestamp())))
    if salary:
        t.counterparty_id, t.description = "emp_acme", "Salary ACME Ltd"
    else:
        t.merchant.CopyFrom(events_pb2.Merchant(id="M1", name="Corner Shop", mcc="5411", country="GB"))
    return t


def history(customer: str, may_salary: date | None) -> list[events_pb2.Transaction]:
    """Salaries on the 25th of January to April, the May one as given, and a card payment every day of May."""
    out = [tx(customer, m, date(2025, m, 25), 2_500_00, salary=True) for m in (1, 2, 3, 4)]
    if may_salary is not None:
        out.append(tx(customer, 5, may_salary, 2_500_00, salary=True))
    out += [tx(customer, 100 + d, date(2025, 5, d), 12_50) for d in range(1, 32)]
    return sorted(out, key=lambda t: t.timestamp.seconds)


def handled(svc: ServiceThread) -> float:
    registry = svc.app.registry
    return sum(registry.get_sample_value("proactivecare_stream_records_handled_total",
                                         {"service": "mortgage", "topic": topic}) or 0
               for topic in svc.app.runners[0].sources)


def test_salary_stopping_brings_one_care_offer_before_the_payment_and_a_late_salary_none(
        settings, produce, token) -> None:
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        for customer in ("STOP", "LATE"):
            produce(CUSTOMERS, customer, profile(customer).SerializeToString())
        assert wait_for(lambda: handled(svc) >= 2, timeout=60)  # profiles first, as the compacted topic is fed
        stopped = history("STOP", may_salary=None)
        late = history("LATE", may_salary=date(2025, 5, 26))   # a day late: not a signal
        for t in stopped + late:
            produce(TRANSACTIONS, t.customer_id, t.SerializeToString())
        for t in stopped:                                      # redelivered: must not notify twice
            produce(TRANSACTIONS, t.customer_id, t.SerializeToString())
        total = 2 + len(stopped) + len(late)
        assert wait_for(lambda: handled(svc) >= total, timeout=90)

        notes = [events_pb2.Notification.FromString(r.value)
                 for r in read_topic(settings, NOTIFICATIONS, expect=1, timeout=30)]
        assert {n.customer_id for n in notes} == {"STOP"}
        assert len({n.id for n in notes}) == 1
        note = notes[0]
        assert note.kind == events_pb2.NOTIFICATION_KIND_CARE_OFFER and note.source == "mortgage"
        assert note.data["due_date"] == "2025-06-01"
        assert note.created_at.ToDatetime().date() < date(2025, 6, 1)
        assert note.created_at.ToDatetime().date() == date(2025, 5, 29)  # 25th + 3 days' grace
        assert any(r.code == "SALARY_MISSING" and "ACME Ltd usually arrives on the 25th" in r.text
                   for r in note.reasons)
        assert "PAYMENT_HOLIDAY" in note.data["options"]

        stub = mortgage_pb2_grpc.MortgageServiceStub(connect(svc.target, token("STOP")))
        care = stub.GetCareOptions(mortgage_pb2.GetCareOptionsRequest(customer_id="STOP"), timeout=10)
        assert care.current_monthly_payment.amount_minor == 948_97
        by_code = {o.code: o for o in care.options}
        assert by_code["INTEREST_ONLY"].new_monthly_payment.amount_minor == 562_50

        with pytest.raises(grpc.RpcError) as denied:
            mortgage_pb2_grpc.MortgageServiceStub(connect(svc.target, token("LATE"))).GetCareOptions(
                mortgage_pb2.GetCareOptionsRequest(customer_id="STOP"), timeout=10)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        with pytest.raises(grpc.RpcError) as missing:
            stub_nobody = mortgage_pb2_grpc.MortgageServiceStub(connect(svc.target, token("NOBODY")))
            stub_nobody.GetCareOptions(mortgage_pb2.GetCareOptionsRequest(customer_id="NOBODY"), timeout=10)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_an_arrears_case_also_raises_an_advisor_task(settings, produce) -> None:
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        produce(CUSTOMERS, "ARR", profile("ARR", in_arrears=True).SerializeToString())
        assert wait_for(lambda: handled(svc) >= 1, timeout=60)  # the profile first, as in the test above: mortgage
        stopped = history("ARR", may_salary=None)               # does not yet hold transactions for a late profile
        for t in stopped:
            produce(TRANSACTIONS, "ARR", t.SerializeToString())
        assert wait_for(lambda: handled(svc) >= 1 + len(stopped), timeout=90)
        tasks = [events_pb2.AdvisorTask.FromString(r.value)
                 for r in read_topic(settings, ADVISOR_TASKS, expect=1, timeout=30)]
        assert len(tasks) == 1
        assert tasks[0].queue == "mortgage-care" and tasks[0].kind == "PAYMENT_DIFFICULTY"
        assert tasks[0].urgency == 1.0
        assert tasks[0].sla_deadline.ToDatetime() <= datetime(2025, 5, 29, 9) + timedelta(hours=24)


def test_check_eligibility_over_grpc_answers_and_names_the_bad_field(settings, token) -> None:
    request = mortgage_pb2.CheckEligibilityRequest(
        jurisdiction="UK", as_of_date="2025-06-02",
        applicants=[mortgage_pb2.Applicant(gross_annual_income=gbp(50_000_00), net_monthly_income=gbp(3_200_00),
                                           monthly_debt_payments=gbp(200_00), monthly_living_costs=gbp(1_200_00))],
        property=mortgage_pb2.Property(value=gbp(300_000_00), units=1,
                                       occupancy=mortgage_pb2.OCCUPANCY_PRINCIPAL_RESIDENCE),
        loan=mortgage_pb2.LoanRequest(amount=gbp(200_000_00), term_months=300, rate_bps=450, fixed_rate=True,
                                      fixed_months=24, purpose=mortgage_pb2.LOAN_PURPOSE_PURCHASE))
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        stub = mortgage_pb2_grpc.MortgageServiceStub(connect(svc.target, token("anyone")))
        answer = stub.CheckEligibility(request, timeout=10)
        assert answer.outcome == mortgage_pb2.ELIGIBILITY_OUTCOME_ELIGIBLE
        assert answer.max_loan.amount_minor == 223_726_63
        assert answer.policy_version == "UK-2024-11-04"

        request.applicants[0].gross_annual_income.amount_minor = -1
        with pytest.raises(grpc.RpcError) as invalid:
            stub.CheckEligibility(request, timeout=10)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "applicants[0].gross_annual_income" in (invalid.value.details() or "")

        with pytest.raises(grpc.RpcError) as unauthenticated:
            mortgage_pb2_grpc.MortgageServiceStub(connect(svc.target, "not-a-token")).CheckEligibility(
                request, timeout=10)
        assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
