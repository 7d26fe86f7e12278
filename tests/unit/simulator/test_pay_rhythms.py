"""Pay-rhythm markets: each rhythm pays on its own calendar (weekend paydays moved to the Friday before), gig
workers are paid irregularly, usage-priced bills vary, and the truth records every customer's rhythm."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from itertools import pairwise

import numpy as np
import pytest

from services.gen.proactivecare.v1 import events_pb2
from services.simulator import catalog, events, truth
from services.simulator.bank import Bank, build_bank
from services.simulator.bank_config import BankConfig
from services.simulator.handbook import HandbookConfig
from services.simulator.schedule import Kind

CONFIG = HandbookConfig(n_customers=200, n_terminals=600, n_days=120, seed=5)


@pytest.fixture(scope="module", params=["UK", "US"])
def bank(request: pytest.FixtureRequest) -> Bank:
    return build_bank(CONFIG, BankConfig.for_market(request.param))


def _pay_days(bank: Bank) -> dict[str, list[dt.date]]:
    days: dict[str, list[dt.date]] = defaultdict(list)
    for tx in events.transactions(bank):
        if tx.channel == events_pb2.CHANNEL_SALARY:
            days[tx.customer_id].append(dt.datetime.fromtimestamp(tx.timestamp.seconds, dt.UTC).date())
    return days


def test_the_mix_is_drawn_and_recorded_in_the_truth(bank: Bank) -> None:
    records = [r for r in truth.bank_records(bank) if r["type"] == "pay_rhythm"]
    assert len(records) == len(bank.customers)
    assert {r["rhythm"] for r in records} == {r for r, _ in bank.config.pay_mix}


def test_each_rhythm_pays_on_its_calendar(bank: Bank) -> None:
    days = _pay_days(bank)
    late = {(bank.customers[s.customer].customer_id) for s in bank.plan.late_salaries}
    for c in bank.customers:
        paid = days[c.customer_id]
        if c.hardship is not None or c.customer_id in late or len(paid) < 3:
            continue
        gaps = {(b - a).days for a, b in pairwise(paid)}
        if c.pay_rhythm in (catalog.WEEKLY, catalog.BIWEEKLY, catalog.FOUR_WEEKLY):
            period = {catalog.WEEKLY: 7, catalog.BIWEEKLY: 14, catalog.FOUR_WEEKLY: 28}[c.pay_rhythm]
            assert gaps == {period} and all(d.weekday() in (3, 4) for d in paid)
        elif c.pay_rhythm == catalog.GIG:
            assert len(gaps) > 3
        else:
            assert all(d.weekday() < 5 for d in paid)   # weekend paydays are paid on the Friday before
        if c.pay_rhythm == catalog.LAST_WORKING_DAY:
            assert all((d + dt.timedelta(days=3 if d.weekday() == 4 else 1)).month != d.month for d in paid)


def test_usage_priced_bills_vary_and_fixed_ones_do_not(bank: Bank) -> None:
    amounts: dict[tuple[str, str], set[int]] = defaultdict(set)
    for tx in events.transactions(bank):
        if tx.channel == events_pb2.CHANNEL_DIRECT_DEBIT:
            amounts[(tx.customer_id, tx.counterparty_id)].add(tx.amount.amount_minor)
    energy = [v for (_, cp), v in amounts.items() if cp == "cp_energy"]
    water = [v for (_, cp), v in amounts.items() if cp == "cp_water"]
    assert sum(len(v) >= 3 for v in energy) > 0.9 * len(energy)
    assert all(len(v) == 1 for v in water)


def test_the_default_bank_pays_everyone_monthly() -> None:
    default = build_bank(HandbookConfig(n_customers=50, n_terminals=200, n_days=40, seed=5))
    assert {c.pay_rhythm for c in default.customers} == {catalog.MONTHLY}
    with pytest.raises(ValueError, match="market"):
        BankConfig.for_market("FR")


def test_the_opening_balance_carries_each_customer_to_their_own_first_pay(bank: Bank) -> None:
    """The buffer is set for the first pay of the customer's rhythm, not the profile's day of the month: a
    customer paid on the last working day is not set up to miss the month's first bills for want of a salary
    that was never due."""
    from services.simulator.customers import DAYS_PER_MONTH

    start = CONFIG.start_date
    first_pay = {c: min(days) for c, days in _pay_days(bank).items()}
    checked = 0
    for c in bank.customers:
        if c.hardship is not None or c.customer_id not in first_pay or c.pay_rhythm == catalog.GIG:
            continue
        days = (first_pay[c.customer_id] - start).days   # a weekend shift only pays earlier
        needed = days / DAYS_PER_MONTH * c.monthly_outgoings_minor
        assert c.opening_balance_minor >= needed - 0.1 * c.salary_minor, (c.customer_id, c.pay_rhythm)
        checked += 1
    assert checked > 100


def _card_spend_after_pay(bank: Bank, days: int) -> tuple[float, dict[int, int]]:
    """The share of genuine card spending booked in the `days` days from each customer's last pay (pay day
    included), and each customer's card spending in all."""
    plan = bank.plan
    pays: dict[int, list[int]] = defaultdict(list)
    for t, c, k in zip(plan.time_s.tolist(), plan.customer.tolist(), plan.kind.tolist(), strict=True):
        if k == Kind.SALARY:
            pays[c].append(t // 86_400)
    near = total = 0
    spent: dict[int, int] = defaultdict(int)
    fraud = bank.handbook.transactions.tx_fraud
    for i in np.flatnonzero((plan.kind == Kind.CARD) & (plan.handbook_id >= 0)).tolist():
        if fraud[plan.handbook_id[i]]:
            continue
        c, day, amount = int(plan.customer[i]), int(plan.time_s[i]) // 86_400, int(plan.amount_minor[i])
        spent[c] += amount
        before = [p for p in pays[c] if p <= day]
        if before:
            total += amount
            near += amount if day - before[-1] < days else 0
    return near / total, spent


def test_spending_that_follows_pay_moves_card_payments_to_the_days_after_it_and_keeps_what_is_spent() -> None:
    even = build_bank(CONFIG, BankConfig.for_market("US"))
    after_pay = build_bank(CONFIG, BankConfig.for_market("US", payday_spending=0.4))
    share_even, spent_even = _card_spend_after_pay(even, 3)
    share_after, spent_after = _card_spend_after_pay(after_pay, 3)
    assert share_after > share_even + 0.2            # the days after pay carry much more of the spending
    assert spent_after == spent_even                 # the same payments, the same amounts: only their days move
    fraud = even.handbook.transactions.tx_fraud == 1
    card = np.flatnonzero(even.plan.handbook_id >= 0)
    assert np.array_equal(even.plan.time_s[card][fraud], after_pay.plan.time_s[card][fraud])  # frauds stay put
    handbook = even.handbook.transactions.tx_time_seconds
    assert np.array_equal(even.plan.time_s[card], handbook)  # off: every card payment where the Handbook put it
    moved_back = (handbook - after_pay.plan.time_s[card]) // 86_400
    assert moved_back.min() >= 0 and 0 < moved_back.max() <= 35  # only earlier, and inside one pay cycle


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_spending_that_follows_pay_is_a_share(share: float) -> None:
    with pytest.raises(ValueError, match="payday_spending"):
        BankConfig.for_market("US", payday_spending=share)
