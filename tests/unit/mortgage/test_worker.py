"""The care handler on a real store, SQLite and PostgreSQL (no broker): what it emits, and never emits twice."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry

from services.advisor.validation import validate_task
from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.mortgage.metrics import MortgageMetrics
from services.mortgage.repository import MIGRATIONS, MortgageRepository
from services.mortgage.worker import MortgageCareHandler
from services.platform.runner import Record
from services.platform.validation import validate_notification


def gbp(minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency="GBP")


def profile(customer: str, *, mortgage: bool = True, in_arrears: bool = False) -> events_pb2.CustomerProfile:
    p = events_pb2.CustomerProfile(customer_id=customer, payday=25, monthly_income=gbp(2_500_00))
    p.products.add(id="acc", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT, overdraft_limit=gbp(0))
    if mortgage:
        m = events_pb2.Mortgage(id="mtg", jurisdiction="UK", balance=gbp(150_000_00), rate_bps=450,
                                remaining_term_months=240, monthly_payment=gbp(948_97), payment_day=1,
                                property_value=gbp(300_000_00), in_arrears=in_arrears)
        p.products.add(id="mtg", type=events_pb2.PRODUCT_TYPE_MORTGAGE, balance=m.balance, mortgage=m)
    return p


def tx(customer: str, n: int, day: date, amount: int, salary: bool = False) -> events_pb2.Transaction:
    return events_pb2.Transaction(
        id=f"{customer}-{n}", customer_id=customer, account_id="acc", amount=gbp(amount),
        direction=events_pb2.DIRECTION_CREDIT if salary else events_pb2.DIRECTION_DEBIT,
        channel=events_pb2.CHANNEL_SALARY if salary else events_pb2.CHANNEL_CARD_PRESENT, balance_after=gbp(3_000_00),
        description="Salary ACME" if salary else "Shop", counterparty_id="emp_acme" if salary else "shop",
        timestamp=Timestamp(seconds=int(datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp())))


def records(items: list) -> list[Record]:
    out = []
    for i, v in enumerate(items):
        topic = "customers" if isinstance(v, events_pb2.CustomerProfile) else "transactions"
        eid = f"{topic}/{v.id if topic == 'transactions' else i}"
        out.append(Record(topic, 0, i, v.customer_id, eid, v, 1_000))
    return out


def stopped_salary(customer: str) -> list[events_pb2.Transaction]:
    salaries = [tx(customer, m, date(2025, m, 25), 2_500_00, salary=True) for m in (1, 2, 3, 4)]
    return salaries + [tx(customer, 100 + d, date(2025, 5, d), 10_00) for d in range(1, 32)]


@pytest.fixture
def handler_and_store(open_store):
    store = open_store("mortgage")
    store.migrate(MIGRATIONS)
    handler = MortgageCareHandler("notifications", "advisor-tasks", MortgageMetrics.create(CollectorRegistry()))

    def run(items: list) -> list:
        with store.transaction() as conn:
            outs = handler.handle(records(items), conn)
        return [o for lst in outs.values() for o in lst]

    return run, store


def test_one_offer_for_a_stopped_salary_even_when_the_stream_is_replayed(handler_and_store) -> None:
    run, store = handler_and_store
    first = run([profile("C1"), *stopped_salary("C1")])
    assert [o.topic for o in first] == ["notifications"]
    note = events_pb2.Notification.FromString(first[0].value)
    assert note.id == "mortgage-care:C1:mtg:2025-06-01"
    assert note.created_at.ToDatetime().date() == date(2025, 5, 29)
    assert note.kind == events_pb2.NOTIFICATION_KIND_CARE_OFFER and note.source_id == note.id
    assert note.body.startswith("Your next mortgage payment of £948.97 is due on 01 June.")
    assert "- Payment holiday: no payments for 3 months." in note.body
    assert "- Interest-only for six months: £562.50 a month for 6 months." in note.body
    assert note.body.endswith("Talking to us about this does not affect your credit file.")
    assert note.data["signals"] == "SALARY_MISSING"
    validate_notification(note)  # what the notification gateway accepts
    assert run(stopped_salary("C1")) == []          # re-evaluated: the same payment is never offered twice
    with store.read() as tx:
        assert len(MortgageRepository(tx).offers()) == 1


def test_history_that_arrives_before_the_profile_is_handled_as_if_the_profile_had_come_first(
        handler_and_store) -> None:
    run, _store = handler_and_store
    profile_first = run([profile("C1"), *stopped_salary("C1")])
    assert run(stopped_salary("C2")) == []          # held: nothing is judged without the profile
    profile_last = run([profile("C2")])
    first, last = (events_pb2.Notification.FromString(o[0].value) for o in (profile_first, profile_last))
    assert [o.topic for o in profile_last] == ["notifications"]
    assert last.id == first.id.replace("C1", "C2") and last.body == first.body
    assert last.created_at == first.created_at      # the same day (29 May), not the day the profile came


def test_past_the_wait_the_held_history_is_folded_and_judged_once_when_the_profile_comes(
        handler_and_store) -> None:
    run, store = handler_and_store
    long_ago = [tx("C9", n, date(2024, 9, 1 + n), 10_00) for n in range(3)]
    assert run([*long_ago, *stopped_salary("C9")]) == []   # spans more than PROFILE_WAIT_DAYS: folded
    with store.read() as t:
        activity, _on = MortgageRepository(t).load_activity("C9")
    assert activity.held == [] and activity.held_over
    outs = run([profile("C9")])
    assert len(outs) == 1
    assert events_pb2.Notification.FromString(outs[0].value).created_at.ToDatetime().date() == date(2025, 5, 31)


def test_a_customer_without_a_mortgage_is_not_tracked(handler_and_store) -> None:
    run, store = handler_and_store
    assert run([profile("C3", mortgage=False), *stopped_salary("C3")]) == []
    with store.read() as tx:
        assert tx.all("SELECT customer_id FROM mortgage_activity WHERE customer_id = 'C3'") == []


def test_a_customer_paid_as_usual_gets_nothing(handler_and_store) -> None:
    run, _store = handler_and_store
    paid = [*stopped_salary("C4"), tx("C4", 5, date(2025, 5, 23), 2_500_00, salary=True)]  # paid early, Friday
    assert run([profile("C4"), *sorted(paid, key=lambda t: t.timestamp.seconds)]) == []


def test_an_arrears_case_raises_an_advisor_task_the_advisor_service_accepts(handler_and_store) -> None:
    run, _store = handler_and_store
    outs = run([profile("C5", in_arrears=True), *stopped_salary("C5")])
    assert [o.topic for o in outs] == ["notifications", "advisor-tasks"]
    task = events_pb2.AdvisorTask.FromString(outs[1].value)
    validate_task(task)
    assert task.id == "task:mortgage-care:C5:mtg:2025-06-01"
    assert task.queue == "mortgage-care" and task.urgency == 1.0
    assert "salary missing" in task.summary
