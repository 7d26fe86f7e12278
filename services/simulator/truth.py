"""Ground truth for evaluation, written as JSON lines: one object per fact, with a ``type`` field.

Types: ``meta`` (first line), ``fraud`` (one per fraudulent card transaction; every other transaction is
genuine), ``compromised_terminal``, ``compromised_card``, ``overdraft_episode``, ``missed_payment``,
``hardship``, ``price_rise``, ``late_salary``, ``duplicate``, ``pay_rhythm`` (one per customer: how
they are paid, catalog.PAY_RHYTHMS). Dates are ISO ``YYYY-MM-DD`` (UTC), timestamps
ISO 8601 UTC, amounts integer minor units with their ISO currency.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scipy.stats import binomtest

from services.simulator import dates
from services.simulator.bank import Bank
from services.simulator.handbook import HandbookDataset

Record = dict[str, Any]


def handbook_records(data: HandbookDataset) -> Iterator[Record]:
    """Fraud labels and compromises; transaction ids are ``tx_<TRANSACTION_ID, 9 digits>``."""
    tx, start = data.transactions, data.config.start_date
    for i in (tx.tx_fraud == 1).nonzero()[0].tolist():
        yield {
            "type": "fraud",
            "transaction_id": f"tx_{i:09d}",
            "handbook_transaction_id": i,
            "customer_id": f"cust_{int(tx.customer_id[i]):06d}",
            "scenario": int(tx.tx_fraud_scenario[i]),
        }
    for terminal, day in data.compromised_terminals.tolist():
        yield {"type": "compromised_terminal", "terminal_id": f"term_{terminal:06d}",
               "start_date": dates.to_date(start, day).isoformat(), "days": 28}
    for customer, day in data.compromised_customers.tolist():
        yield {"type": "compromised_card", "customer_id": f"cust_{customer:06d}",
               "card_token": f"card_{customer:06d}", "start_date": dates.to_date(start, day).isoformat(),
               "days": 14}


def bank_records(bank: Bank) -> Iterator[Record]:
    ledger, customers = bank.ledger, bank.customers
    start = bank.handbook.config.start_date
    for e in ledger.overdraft_episodes:
        yield {
            "type": "overdraft_episode",
            "customer_id": customers[e.customer].customer_id,
            "date": dates.to_date(start, e.start_s // dates.SECONDS_PER_DAY).isoformat(),
            "start": dates.to_iso(start, e.start_s),
            "end": None if e.end_s is None else dates.to_iso(start, e.end_s),
            "transaction_id": ledger.transaction_id(e.start_row),
        }
    for m in ledger.missed_payments:
        c = customers[m.customer]
        yield {
            "type": "missed_payment",
            "customer_id": c.customer_id,
            "mortgage_id": c.mortgage.id if c.mortgage else None,
            "due_date": dates.to_date(start, m.due_day).isoformat(),
            "amount_minor": m.amount_minor,
            "currency": c.currency,
            "transaction_id": ledger.transaction_id(m.row),
        }
    for c in customers:
        yield {"type": "pay_rhythm", "customer_id": c.customer_id, "rhythm": c.pay_rhythm, "payer": c.employer_id,
               "monthly_income_minor": c.salary_minor, "currency": c.currency}
    for c in customers:
        h = c.hardship
        if h is None:
            continue
        yield {
            "type": "hardship",
            "customer_id": c.customer_id,
            "start_date": dates.to_date(start, h.start_day).isoformat(),
            "kind": h.kind.value,
            "income_factor": h.income_factor,
            "has_mortgage": c.mortgage is not None,
            "gambling_monthly_minor": h.gambling_monthly_minor,
            "payday_loan_minor": h.payday_loan_minor,
            "currency": c.currency,
        }
    pos = ledger.position_of_plan_row
    for r in bank.plan.price_rises:
        yield {
            "type": "price_rise",
            "customer_id": customers[r.customer].customer_id,
            "counterparty_id": r.counterparty_id,
            "date": dates.to_date(start, r.day).isoformat(),
            "old_amount_minor": r.old_minor,
            "new_amount_minor": r.new_minor,
            "currency": customers[r.customer].currency,
            "transaction_id": ledger.transaction_id(int(pos[r.row])),
        }
    for s in bank.plan.late_salaries:
        yield {
            "type": "late_salary",
            "customer_id": customers[s.customer].customer_id,
            "due_date": dates.to_date(start, s.due_day).isoformat(),
            "paid_date": dates.to_date(start, s.paid_day).isoformat(),
            "transaction_id": ledger.transaction_id(int(pos[s.row])),
        }
    for d in bank.plan.duplicates:
        yield {
            "type": "duplicate",
            "customer_id": customers[d.customer].customer_id,
            "original_id": ledger.transaction_id(int(pos[d.original_row])),
            "duplicate_id": ledger.transaction_id(int(pos[d.duplicate_row])),
            "amount_minor": d.amount_minor,
            "currency": customers[d.customer].currency,
        }


def write_truth(path: str | Path, data: HandbookDataset, bank: Bank | None = None) -> dict[str, int]:
    """Write the JSON-lines ground truth; returns the number of records per type."""
    counts: dict[str, int] = {}
    cfg = data.config
    meta = {
        "type": "meta",
        "generator": "proactive-care simulator",
        "start_date": cfg.start_date.isoformat(),
        "n_days": cfg.n_days,
        "n_customers": cfg.n_customers,
        "n_terminals": cfg.n_terminals,
        "radius": cfg.radius,
        "seed": cfg.seed,
        "bank": bank is not None,
        "id_scheme": {"card": "tx_<handbook TRANSACTION_ID:09d>", "bank": "bk_<n:09d>"},
    }
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(meta) + "\n")
        records = handbook_records(data)
        for record in records:
            f.write(json.dumps(record) + "\n")
            counts[record["type"]] = counts.get(record["type"], 0) + 1
        if bank is not None:
            for record in bank_records(bank):
                f.write(json.dumps(record) + "\n")
                counts[record["type"]] = counts.get(record["type"], 0) + 1
    return counts


def read_truth(path: str | Path) -> list[Record]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def interval(successes: int, trials: int) -> list[float] | None:
    """The 95% Wilson score interval of a share measured against this truth, `successes / trials` (None without
    trials), so a figure is read with its sample size: 0.733 of 15 customers is [0.48, 0.89], of 1,000 [0.70, 0.76]."""
    if trials == 0:
        return None
    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]
