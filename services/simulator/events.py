"""The bank as protobuf events: ``Transaction`` rows in global time order, one ``CustomerProfile`` each, and the
chargebacks of fraudulent card payments (``FraudFeedback``) due days after them."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.simulator import dates
from services.simulator.bank import Bank
from services.simulator.customers import BankCustomer
from services.simulator.schedule import SAVINGS


def _money(amount_minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency=currency)


def transactions(bank: Bank, start: int = 0, stop: int | None = None) -> Iterator[events_pb2.Transaction]:
    """Ledger rows ``[start, stop)`` as ``Transaction`` messages, in global time order (UTC)."""
    ledger, directory = bank.ledger, bank.directory
    epoch = dates.epoch_seconds(bank.handbook.config.start_date)
    customers = bank.customers
    located = bank.handbook.config.feed_locations
    counterparties, descriptions = ledger.counterparties, ledger.descriptions
    stop = len(ledger) if stop is None else min(stop, len(ledger))
    cols = (
        ledger.time_s[start:stop].tolist(),
        ledger.customer[start:stop].tolist(),
        ledger.account[start:stop].tolist(),
        ledger.channel[start:stop].tolist(),
        ledger.direction[start:stop].tolist(),
        ledger.amount_minor[start:stop].tolist(),
        ledger.status[start:stop].tolist(),
        ledger.balance_after_minor[start:stop].tolist(),
        ledger.terminal[start:stop].tolist(),
        ledger.counterparty[start:stop].tolist(),
        ledger.description[start:stop].tolist(),
    )
    for offset, (t, c, acc, ch, d, amount, status, balance, term, cp, desc) in enumerate(zip(*cols, strict=True)):
        profile = customers[c]
        currency = profile.currency
        tx = events_pb2.Transaction(
            id=ledger.transaction_id(start + offset),
            customer_id=profile.customer_id,
            account_id=profile.savings.account_id if acc == SAVINGS and profile.savings else profile.account_id,
            timestamp=Timestamp(seconds=epoch + t),
            amount=_money(amount, currency),
            direction=d,
            channel=ch,
            balance_after=_money(balance, currency),
            status=status,
        )
        if term >= 0:
            m = int(directory.terminal_merchant[term])
            tx.terminal_id = directory.terminal_ids[term]
            tx.merchant.id = directory.merchant_ids[m]
            tx.merchant.name = directory.merchant_names[m]
            tx.merchant.mcc = directory.merchant_mcc[m]
            tx.merchant.country = directory.merchant_country[m]
            tx.card_token = profile.card_token  # card payments, cash machines and online bets use the card
            x, y = float(directory.terminal_x_km[term]), float(directory.terminal_y_km[term])
            if located and not math.isnan(x):
                tx.location.x_km, tx.location.y_km = x, y
            tx.counterparty_id = directory.merchant_ids[m]
            tx.description = directory.merchant_names[m]
        if cp >= 0:
            tx.counterparty_id = counterparties[cp]
        if desc >= 0:
            tx.description = descriptions[desc]
        yield tx


def profile(bank: Bank, customer: BankCustomer) -> events_pb2.CustomerProfile:
    """The customer's profile as at the simulation start."""
    currency = customer.currency
    start = Timestamp(seconds=dates.epoch_seconds(bank.handbook.config.start_date))
    products = [
        events_pb2.Product(
            id=customer.account_id,
            type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT,
            balance=_money(customer.opening_balance_minor, currency),
            overdraft_limit=_money(customer.overdraft_limit_minor, currency),
        )
    ]
    if customer.savings is not None:
        products.append(
            events_pb2.Product(
                id=customer.savings.account_id,
                type=events_pb2.PRODUCT_TYPE_SAVINGS,
                balance=_money(customer.savings.balance_minor, currency),
            )
        )
    if customer.mortgage is not None:
        m = customer.mortgage
        products.append(
            events_pb2.Product(
                id=m.id,
                type=events_pb2.PRODUCT_TYPE_MORTGAGE,
                balance=_money(m.principal_minor, currency),
                mortgage=events_pb2.Mortgage(
                    id=m.id,
                    jurisdiction="UK",
                    balance=_money(m.principal_minor, currency),
                    rate_bps=m.rate_bps,
                    remaining_term_months=m.remaining_term_months,
                    monthly_payment=_money(m.monthly_payment_minor, currency),
                    payment_day=m.payment_day,
                    property_value=_money(m.property_value_minor, currency),
                    interest_only=False,
                    fixed_months_remaining=m.fixed_months_remaining,
                    overpaid_this_year=_money(0, currency),
                    in_arrears=False,
                ),
            )
        )
    return events_pb2.CustomerProfile(
        customer_id=customer.customer_id,
        time_zone=customer.time_zone,
        monthly_income=_money(customer.salary_minor, currency),
        payday=customer.payday,
        products=products,
        home=events_pb2.Location(x_km=customer.home_x_km, y_km=customer.home_y_km),
        segment=customer.segment,
        credit_score=customer.credit_score,
        updated_at=start,
    )


def profiles(bank: Bank) -> Iterator[events_pb2.CustomerProfile]:
    for customer in bank.customers:
        yield profile(bank, customer)


def chargebacks(bank: Bank, delay_days: float) -> list[tuple[int, events_pb2.FraudFeedback]]:
    """The card issuer's chargebacks: each fraudulent card payment is disputed `delay_days` after it was made (the
    Handbook's label delay), as a `FraudFeedback` with no alert id. (due epoch seconds, message), in due order."""
    ledger, directory, customers = bank.ledger, bank.directory, bank.customers
    epoch = dates.epoch_seconds(bank.handbook.config.start_date)
    fraud = bank.handbook.transactions.tx_fraud
    delay = round(delay_days * 86_400)
    card_rows = np.flatnonzero(ledger.handbook_id >= 0)
    out = []
    for position in card_rows[fraud[ledger.handbook_id[card_rows]] == 1].tolist():
        profile = customers[int(ledger.customer[position])]
        term = int(ledger.terminal[position])
        made = epoch + int(ledger.time_s[position])
        out.append((made + delay, events_pb2.FraudFeedback(
            transaction_id=ledger.transaction_id(position), customer_id=profile.customer_id,
            card_token=profile.card_token, terminal_id=directory.terminal_ids[term],
            merchant_id=directory.merchant_ids[int(directory.terminal_merchant[term])], confirmed_fraud=True,
            answered_at=Timestamp(seconds=made + delay), transaction_time=Timestamp(seconds=made))))
    out.sort(key=lambda due_message: due_message[0])
    return out
