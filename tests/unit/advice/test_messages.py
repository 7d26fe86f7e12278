from __future__ import annotations

from datetime import UTC, datetime

from services.advice.facts import TxFacts
from services.advice.messages import profile_facts, tx_facts
from services.advice.state import CustomerState
from services.gen.proactivecare.v1 import common_pb2, events_pb2
from tests.unit.advice.builders import policy
from tests.unit.advice.test_service_and_worker import transaction


def gbp(minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency="GBP")


def test_a_profile_gives_the_accounts_savings_and_overdraft_limit() -> None:
    profile = events_pb2.CustomerProfile(customer_id="c-1", segment="young", payday=15, monthly_income=gbp(180_000))
    profile.products.add(id="cur-1", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT, balance=gbp(5_000),
                         overdraft_limit=gbp(50_000))
    profile.products.add(id="sav-1", type=events_pb2.PRODUCT_TYPE_SAVINGS, balance=gbp(120_000))
    facts = profile_facts(profile)
    assert (facts.current_account_id, facts.savings_account_id) == ("cur-1", "sav-1")
    assert (facts.savings_balance_minor, facts.overdraft_limit_minor, facts.payday) == (120_000, 50_000, 15)
    assert facts.currency == "GBP" and facts.segment == "young"


def test_a_transaction_becomes_facts_with_a_stable_payee() -> None:
    tx = transaction("bk_1", datetime(2026, 3, 5, 4, tzinfo=UTC), 1099, 10_000)
    facts = tx_facts(tx, produced_at_ms=123)
    assert isinstance(facts, TxFacts)
    assert (facts.payee_key, facts.channel, facts.is_credit, facts.balance_after_minor) == (
        "cp_streamflix", "DIRECT_DEBIT", False, 10_000)
    assert facts.timestamp == datetime(2026, 3, 5, 4, tzinfo=UTC) and facts.produced_at_ms == 123


def test_savings_interest_updates_savings_only() -> None:
    profile = events_pb2.CustomerProfile(customer_id="c-1")
    profile.products.add(id="acc-1", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT)
    profile.products.add(id="sav-1", type=events_pb2.PRODUCT_TYPE_SAVINGS, balance=gbp(100_000))
    state = CustomerState("c-1")
    state.apply_profile(profile_facts(profile))
    state.observe(tx_facts(transaction("t1", datetime(2026, 3, 1, tzinfo=UTC), 500, 20_000,
                                       channel=events_pb2.CHANNEL_CARD_PRESENT, counterparty="")), policy())
    interest = transaction("t2", datetime(2026, 3, 2, tzinfo=UTC), 300, 100_300, channel=events_pb2.CHANNEL_INTEREST,
                           counterparty="")
    interest.account_id, interest.direction = "sav-1", events_pb2.DIRECTION_CREDIT
    observation = state.observe(tx_facts(interest), policy())
    assert observation.other_account
    assert state.balance_minor == 20_000 and state.savings_minor() == 100_300
