"""The bank layer at reduced scale: balance continuity, salaries, returned payments, price rises, hardship,
overdraft episodes, duplicates, determinism and the protobuf output (no card number anywhere)."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.gen.proactivecare.v1 import events_pb2
from services.platform.validation import validate_customer_profile, validate_transaction
from services.simulator import annuity, events, truth
from services.simulator.bank import Bank, bank_stats, build_bank
from services.simulator.customers import HardshipKind
from services.simulator.handbook import HandbookConfig
from services.simulator.schedule import CURRENT, Kind

CONFIG = HandbookConfig(n_customers=300, n_terminals=600, n_days=150, seed=3)
START = CONFIG.start_date


@pytest.fixture(scope="module")
def bank() -> Bank:
    return build_bank(CONFIG)


@pytest.fixture(scope="module")
def txs(bank: Bank) -> list[events_pb2.Transaction]:
    return list(events.transactions(bank))


@pytest.fixture(scope="module")
def truth_records(bank: Bank, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    path = tmp_path_factory.mktemp("truth") / "truth.jsonl"
    truth.write_truth(path, bank.handbook, bank)
    by_type: dict[str, list[dict]] = defaultdict(list)
    for record in truth.read_truth(path):
        by_type[record["type"]].append(record)
    return by_type


def _date(tx: events_pb2.Transaction) -> dt.date:
    return dt.datetime.fromtimestamp(tx.timestamp.seconds, dt.UTC).date()


def _by_account(txs: list[events_pb2.Transaction]) -> dict[str, list[events_pb2.Transaction]]:
    out: dict[str, list[events_pb2.Transaction]] = defaultdict(list)
    for tx in txs:
        out[tx.account_id].append(tx)
    return out


def test_balance_runs_continuously_per_account(bank: Bank, txs: list[events_pb2.Transaction]) -> None:
    opening = {c.account_id: c.opening_balance_minor for c in bank.customers}
    opening |= {c.savings.account_id: c.savings.balance_minor for c in bank.customers if c.savings}
    for account, rows in _by_account(txs).items():
        balance = opening[account]
        for tx in rows:
            if tx.status == events_pb2.TRANSACTION_STATUS_BOOKED:
                sign = 1 if tx.direction == events_pb2.DIRECTION_CREDIT else -1
                balance += sign * tx.amount.amount_minor
            assert tx.balance_after.amount_minor == balance, tx.id


def test_transactions_come_in_global_time_order_with_unique_ids(txs: list[events_pb2.Transaction]) -> None:
    seconds = [tx.timestamp.seconds for tx in txs]
    assert seconds == sorted(seconds)
    assert len({tx.id for tx in txs}) == len(txs)


def test_every_handbook_card_payment_is_in_the_bank(bank: Bank) -> None:
    ledger, hb = bank.ledger, bank.handbook.transactions
    card = ledger.handbook_id >= 0
    ids = ledger.handbook_id[card]
    np.testing.assert_array_equal(np.sort(ids), hb.transaction_id)
    np.testing.assert_array_equal(ledger.amount_minor[card], hb.amount_minor[ids])
    np.testing.assert_array_equal(ledger.time_s[card], hb.tx_time_seconds[ids])


def test_salary_arrives_on_payday_unless_recorded_late(
    bank: Bank, txs: list[events_pb2.Transaction], truth_records: dict[str, list[dict]]
) -> None:
    late = {r["transaction_id"]: r for r in truth_records["late_salary"]}
    customers = {c.customer_id: c for c in bank.customers}
    salaries = [tx for tx in txs if tx.channel == events_pb2.CHANNEL_SALARY]
    assert salaries and late
    for tx in salaries:
        c = customers[tx.customer_id]
        assert tx.direction == events_pb2.DIRECTION_CREDIT
        if tx.id in late:
            record = late[tx.id]
            assert _date(tx).isoformat() == record["paid_date"]
            due = dt.date.fromisoformat(record["due_date"])
            assert due.day == c.payday and 1 <= (_date(tx) - due).days <= 2
        else:
            assert _date(tx).day == c.payday, tx.id
    # Customers without hardship are paid once per payday in the window.
    for c in bank.customers:
        if c.hardship is None:
            paydays = sum(1 for d in range(CONFIG.n_days) if (START + dt.timedelta(days=d)).day == c.payday)
            assert sum(1 for tx in salaries if tx.customer_id == c.customer_id) == paydays


def test_returned_payments_are_unaffordable_mortgage_payments_that_move_no_money(
    bank: Bank, txs: list[events_pb2.Transaction]
) -> None:
    limits = {c.account_id: c.overdraft_limit_minor for c in bank.customers}
    returned = 0
    for account, rows in _by_account(txs).items():
        previous = None
        for tx in rows:
            if tx.status == events_pb2.TRANSACTION_STATUS_RETURNED:
                returned += 1
                assert tx.channel == events_pb2.CHANNEL_MORTGAGE_PAYMENT
                assert previous is not None
                assert tx.balance_after.amount_minor == previous
                assert previous + limits[account] < tx.amount.amount_minor
            elif tx.channel == events_pb2.CHANNEL_MORTGAGE_PAYMENT and previous is not None:
                assert previous + limits[account] >= tx.amount.amount_minor
            previous = tx.balance_after.amount_minor
    assert returned > 0


def test_missed_payments_in_truth_are_the_returned_transactions(
    txs: list[events_pb2.Transaction], truth_records: dict[str, list[dict]]
) -> None:
    returned = {tx.id: tx for tx in txs if tx.status == events_pb2.TRANSACTION_STATUS_RETURNED}
    missed = truth_records["missed_payment"]
    assert {r["transaction_id"] for r in missed} == set(returned)
    for r in missed:
        tx = returned[r["transaction_id"]]
        assert _date(tx).isoformat() == r["due_date"]
        assert tx.customer_id == r["customer_id"]


def test_hardship_customers_with_a_mortgage_miss_payments(bank: Bank) -> None:
    missed = {m.customer for m in bank.ledger.missed_payments}
    with_mortgage = [c for c in bank.customers if c.hardship is not None and c.mortgage is not None]
    assert len(with_mortgage) >= 3
    stopped = [c for c in with_mortgage if c.hardship.kind is HardshipKind.SALARY_STOPPED]
    assert all(c.index in missed for c in stopped)
    assert sum(c.index in missed for c in with_mortgage) >= 0.8 * len(with_mortgage)
    # Outside hardship a missed payment is rare.
    others = [c for c in bank.customers if c.hardship is None and c.mortgage is not None]
    assert sum(c.index in missed for c in others) <= 0.1 * len(others)


def test_hardship_cuts_income_and_raises_gambling(bank: Bank, txs: list[events_pb2.Transaction]) -> None:
    by_customer: dict[str, list[events_pb2.Transaction]] = defaultdict(list)
    for tx in txs:
        by_customer[tx.customer_id].append(tx)
    hardship = [c for c in bank.customers if c.hardship is not None]
    assert hardship
    for c in hardship:
        start = START + dt.timedelta(days=c.hardship.start_day)
        rows = by_customer[c.customer_id]
        after = [tx.amount.amount_minor for tx in rows
                 if tx.channel == events_pb2.CHANNEL_SALARY and _date(tx) >= start]
        if c.hardship.kind is HardshipKind.SALARY_STOPPED:
            assert after == []
        else:
            assert all(a == round(c.salary_minor * c.hardship.income_factor) for a in after)
            assert all(a <= 0.7 * c.salary_minor for a in after)
        gambling_after = [tx for tx in rows if tx.merchant.mcc == "7995" and _date(tx) >= start]
        assert gambling_after, c.customer_id


def test_price_rises_in_truth_appear_in_the_transactions(
    txs: list[events_pb2.Transaction], truth_records: dict[str, list[dict]]
) -> None:
    by_id = {tx.id: tx for tx in txs}
    series: dict[tuple[str, str], list[events_pb2.Transaction]] = defaultdict(list)
    for tx in txs:
        if tx.channel == events_pb2.CHANNEL_DIRECT_DEBIT:
            series[(tx.customer_id, tx.counterparty_id)].append(tx)
    rises = truth_records["price_rise"]
    assert len(rises) > 10
    for r in rises:
        tx = by_id[r["transaction_id"]]
        assert tx.customer_id == r["customer_id"] and tx.counterparty_id == r["counterparty_id"]
        assert tx.amount.amount_minor == r["new_amount_minor"] > r["old_amount_minor"]
        assert _date(tx).isoformat() == r["date"]
        payments = series[(r["customer_id"], r["counterparty_id"])]
        earlier = {t.amount.amount_minor for t in payments if t.timestamp.seconds < tx.timestamp.seconds}
        later = {t.amount.amount_minor for t in payments if t.timestamp.seconds >= tx.timestamp.seconds}
        assert earlier == {r["old_amount_minor"]} and later == {r["new_amount_minor"]}


def test_direct_debits_keep_their_day_of_month(txs: list[events_pb2.Transaction]) -> None:
    days: dict[tuple[str, str], set[int]] = defaultdict(set)
    for tx in txs:
        if tx.channel == events_pb2.CHANNEL_DIRECT_DEBIT and not tx.counterparty_id.startswith("cp_quickcash"):
            days[(tx.customer_id, tx.counterparty_id)].add(_date(tx).day)
    assert days
    assert all(len(d) == 1 for d in days.values())


def test_overdraft_episodes_start_below_zero_and_charge_a_fee(
    bank: Bank, txs: list[events_pb2.Transaction], truth_records: dict[str, list[dict]]
) -> None:
    by_id = {tx.id: tx for tx in txs}
    episodes = truth_records["overdraft_episode"]
    assert episodes
    for e in episodes:
        tx = by_id[e["transaction_id"]]
        assert tx.balance_after.amount_minor < 0 and tx.direction == events_pb2.DIRECTION_DEBIT
    fees = [tx for tx in txs if tx.channel == events_pb2.CHANNEL_FEE]
    assert 0 < len(fees) <= len(episodes)
    episode_days = {(e["customer_id"], e["date"]) for e in episodes}
    for fee in fees:
        assert fee.amount.amount_minor == bank.config.overdraft_fee_minor
        assert (fee.customer_id, _date(fee).isoformat()) in episode_days
        assert fee.timestamp.seconds % 86_400 == 86_399


def test_duplicates_repeat_a_genuine_card_payment_minutes_later(
    txs: list[events_pb2.Transaction], truth_records: dict[str, list[dict]]
) -> None:
    by_id = {tx.id: tx for tx in txs}
    duplicates = truth_records["duplicate"]
    assert duplicates
    frauds = {r["transaction_id"] for r in truth_records["fraud"]}
    for d in duplicates:
        original, dup = by_id[d["original_id"]], by_id[d["duplicate_id"]]
        assert original.id not in frauds
        assert (dup.customer_id, dup.terminal_id, dup.amount.amount_minor) == (
            original.customer_id, original.terminal_id, original.amount.amount_minor)
        assert 20 <= dup.timestamp.seconds - original.timestamp.seconds <= 600


def test_card_transactions_carry_merchant_channel_and_labels(
    bank: Bank, txs: list[events_pb2.Transaction], truth_records: dict[str, list[dict]]
) -> None:
    card = [tx for tx in txs if tx.id.startswith("tx_")]
    assert len(card) == len(bank.handbook.transactions)
    assert {tx.channel for tx in card} == {events_pb2.CHANNEL_CARD_PRESENT, events_pb2.CHANNEL_CARD_NOT_PRESENT}
    for tx in card[:2000]:
        assert re.fullmatch(r"\d{4}", tx.merchant.mcc) and re.fullmatch(r"[A-Z]{2}", tx.merchant.country)
        assert tx.card_token == "card_" + tx.customer_id.removeprefix("cust_")
        assert tx.direction == events_pb2.DIRECTION_DEBIT and tx.terminal_id.startswith("term_")
    hb = bank.handbook.transactions
    labelled = {r["transaction_id"]: r["scenario"] for r in truth_records["fraud"]}
    assert len(labelled) == int(hb.tx_fraud.sum())
    for tid, scenario in list(labelled.items())[:500]:
        assert hb.tx_fraud_scenario[int(tid.removeprefix("tx_"))] == scenario


def _strings(message: Message) -> list[str]:
    """Every string field value of a message, recursively."""
    out: list[str] = []
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for v in values:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                out += _strings(v)
            elif field.type == FieldDescriptor.TYPE_STRING:
                out.append(v)
    return out


def test_every_event_validates_and_no_card_number_appears(bank: Bank, txs: list[events_pb2.Transaction]) -> None:
    pan = re.compile(r"\d{13,19}")  # a digit run as long as a card number, anywhere in any text field
    for tx in txs:
        validate_transaction(tx)
        assert not any(pan.search(s) for s in _strings(tx)), tx.id
    for profile in events.profiles(bank):
        validate_customer_profile(profile)
        assert not any(pan.search(s) for s in _strings(profile))


def test_profiles_hold_accounts_and_annuity_mortgages(bank: Bank) -> None:
    profiles = list(events.profiles(bank))
    assert len(profiles) == CONFIG.n_customers
    mortgages = 0
    for p, c in zip(profiles, bank.customers, strict=True):
        assert p.customer_id == c.customer_id and 1 <= p.payday <= 28
        assert p.time_zone and p.monthly_income.currency == "GBP" and p.monthly_income.amount_minor > 0
        types = [product.type for product in p.products]
        assert types[0] == events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT
        for product in p.products:
            if product.type == events_pb2.PRODUCT_TYPE_MORTGAGE:
                mortgages += 1
                m = product.mortgage
                assert m.monthly_payment.amount_minor == annuity.annuity_payment(
                    m.balance.amount_minor, m.rate_bps, m.remaining_term_months)
                assert 1 <= m.payment_day <= 28
    assert mortgages == round(0.3 * CONFIG.n_customers)


def test_most_customers_are_solvent(bank: Bank) -> None:
    stats = bank_stats(bank)
    assert stats["n_customers_overdrawn_at_end"] < 0.25 * CONFIG.n_customers
    assert stats["n_customers_ever_overdrawn"] > 0


def test_same_seed_same_bank(bank: Bank) -> None:
    again = build_bank(CONFIG).ledger
    ledger = bank.ledger
    for name in ("time_s", "customer", "kind", "amount_minor", "status", "balance_after_minor"):
        np.testing.assert_array_equal(getattr(again, name), getattr(ledger, name))


def test_savings_interest_is_credited_to_the_savings_account(bank: Bank) -> None:
    ledger = bank.ledger
    interest = ledger.kind == int(Kind.INTEREST)
    assert interest.any()
    assert (ledger.account[interest] != CURRENT).all()
    assert (ledger.amount_minor[interest] >= 0).all()


def test_truth_file_starts_with_meta(bank: Bank, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    counts = truth.write_truth(path, bank.handbook, bank)
    records = truth.read_truth(path)
    assert records[0]["type"] == "meta" and records[0]["seed"] == CONFIG.seed
    assert len(records) == 1 + sum(counts.values())
