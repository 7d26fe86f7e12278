"""The synthetic bank: Handbook customers and card payments turned into current accounts.

``build_bank`` is the one entry point: Handbook data -> merchants -> customers -> planned rows -> booked
ledger. Everything is seeded from ``HandbookConfig.seed``: the same seed gives the same bank.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from services.gen.proactivecare.v1 import events_pb2
from services.platform import enums
from services.simulator import handbook
from services.simulator.bank_config import BankConfig
from services.simulator.customers import BankCustomer, build_customers
from services.simulator.handbook import HandbookConfig, HandbookDataset
from services.simulator.ledger import RETURNED, Ledger, book
from services.simulator.merchants import MerchantDirectory, build_directory
from services.simulator.schedule import Kind, Plan, build_plan

# Distinguishes the bank's random streams from the Handbook's for the same seed.
_BANK_STREAM_KEY = 0xB4


@dataclass(frozen=True, eq=False)
class Bank:
    handbook: HandbookDataset
    config: BankConfig
    directory: MerchantDirectory
    customers: list[BankCustomer]
    plan: Plan
    ledger: Ledger


def build_bank(
    handbook_config: HandbookConfig | None = None,
    config: BankConfig | None = None,
    data: HandbookDataset | None = None,
) -> Bank:
    """The bank on top of ``data`` (generated from ``handbook_config`` when not given)."""
    config = config or BankConfig()
    data = data or handbook.generate(handbook_config or HandbookConfig())
    seeds = np.random.SeedSequence([data.config.seed, _BANK_STREAM_KEY]).spawn(3)
    rng_merchants, rng_customers, rng_schedule = (np.random.default_rng(s) for s in seeds)
    directory = build_directory(data.terminals, rng_merchants)
    atm = directory.nearest_atm(data.customers.x_km, data.customers.y_km)
    customers = build_customers(data, config, atm, rng_customers)
    plan = build_plan(data, customers, directory, config, rng_schedule)
    ledger = book(plan, customers, directory, data.config.n_days, config.overdraft_fee_minor)
    return Bank(data, config, directory, customers, plan, ledger)


def bank_stats(bank: Bank) -> dict[str, object]:
    """Headline figures of the bank layer (JSON-serializable)."""
    ledger = bank.ledger
    customers = bank.customers
    values, counts = np.unique(ledger.channel, return_counts=True)
    channel_counts = {enums.short_name(events_pb2.Channel, int(c)): int(n) for c, n in zip(values, counts, strict=True)}
    hardship = [c for c in customers if c.hardship is not None]
    hardship_mortgage = {c.index for c in hardship if c.mortgage is not None}
    missed_customers = {m.customer for m in ledger.missed_payments}
    current = ledger.account == 0
    last_balance: dict[int, int] = {}
    for cust, bal in zip(ledger.customer[current].tolist(), ledger.balance_after_minor[current].tolist(),
                         strict=True):
        last_balance[cust] = bal
    return {
        "n_customers": len(customers),
        "n_bank_transactions": len(ledger),
        "channel_counts": channel_counts,
        "n_returned": int((ledger.status == RETURNED).sum()),
        "n_fees": int((ledger.kind == int(Kind.FEE)).sum()),
        "n_overdraft_episodes": len(ledger.overdraft_episodes),
        "n_customers_ever_overdrawn": len({e.customer for e in ledger.overdraft_episodes}),
        "n_customers_overdrawn_at_end": sum(1 for b in last_balance.values() if b < 0),
        "n_missed_payments": len(ledger.missed_payments),
        "n_customers_with_missed_payment": len(missed_customers),
        "n_missed_payment_customers_not_in_hardship": len(missed_customers - {c.index for c in hardship}),
        "n_mortgages": sum(1 for c in customers if c.mortgage is not None),
        "n_hardship": len(hardship),
        "n_hardship_with_mortgage": len(hardship_mortgage),
        "n_hardship_mortgage_with_missed_payment": len(hardship_mortgage & missed_customers),
        "n_price_rises": len(bank.plan.price_rises),
        "n_late_salaries": len(bank.plan.late_salaries),
        "n_duplicates": len(bank.plan.duplicates),
        "median_salary_minor": int(np.median([c.salary_minor for c in customers])),
        "pay_rhythms": dict(sorted(Counter(c.pay_rhythm for c in customers).items())),
    }
