"""What happened, derived from the history itself (no simulator): overdraft episodes, missed mortgage payments and
fraud. What the data cannot tell is "not measured", never zero.

- Overdraft episode: a customer's balance (`balance_after`) crossing below zero, per account; it starts at the
  first transaction below zero after one at or above it (or after the first transaction seen).
- Missed mortgage payment: for each mortgage of a profile, each monthly due date (`payment_day`) inside the
  history with no booked `MORTGAGE_PAYMENT` debit within `PAID_WINDOW_DAYS` of it (a returned collection is not
  a payment). Only measured for customers whose feed carries mortgage payments at all: a feed that does not label
  them would otherwise look like a customer who never pays.
- Fraud: the labels given (a `fraud` CSV column or `fraud_label` lines); not measured without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.gen.proactivecare.v1 import events_pb2

PAID_WINDOW_DAYS = 7   # a payment this many days either side of the due date counts for it


@dataclass(frozen=True)
class Truth:
    overdraft_episodes: list[tuple[str, datetime]]      # (customer, start)
    overdraft_measured: bool
    missed_payments: list[tuple[str, date]]             # (customer, due date)
    mortgage_holders: set[str]                          # measured ones
    mortgage_not_measured: set[str]                     # holders whose feed carries no mortgage payment
    fraud_labels: dict[str, bool]

    @property
    def first_missed(self) -> dict[str, date]:
        first: dict[str, date] = {}
        for customer, due in self.missed_payments:
            if customer not in first or due < first[customer]:
                first[customer] = due
        return first


def derive(transactions: list[events_pb2.Transaction], profiles: list[events_pb2.CustomerProfile],
           fraud_labels: dict[str, bool]) -> Truth:
    """`transactions` in time order."""
    episodes, measured = overdraft_episodes(transactions)
    missed, holders, not_measured = missed_payments(transactions, profiles)
    return Truth(episodes, measured, missed, holders, not_measured, dict(fraud_labels))


def _at(tx: events_pb2.Transaction) -> datetime:
    return datetime.fromtimestamp(tx.timestamp.seconds, UTC)


def overdraft_episodes(transactions: list[events_pb2.Transaction]) -> tuple[list[tuple[str, datetime]], bool]:
    below: dict[tuple[str, str], bool] = {}
    episodes: list[tuple[str, datetime]] = []
    measured = False
    for tx in transactions:
        if not tx.HasField("balance_after"):
            continue
        measured = True
        key = (tx.customer_id, tx.account_id)
        now_below = tx.balance_after.amount_minor < 0
        if now_below and not below.get(key, False):
            episodes.append((tx.customer_id, _at(tx)))
        below[key] = now_below
    return episodes, measured


def missed_payments(transactions: list[events_pb2.Transaction], profiles: list[events_pb2.CustomerProfile],
                    ) -> tuple[list[tuple[str, date]], set[str], set[str]]:
    paid: dict[str, list[date]] = {}
    first_seen: dict[str, date] = {}
    last_seen: dict[str, date] = {}
    for tx in transactions:
        day = _at(tx).date()
        first_seen.setdefault(tx.customer_id, day)
        last_seen[tx.customer_id] = day
        if (tx.channel == events_pb2.CHANNEL_MORTGAGE_PAYMENT and tx.direction == events_pb2.DIRECTION_DEBIT
                and tx.status != events_pb2.TRANSACTION_STATUS_RETURNED):
            paid.setdefault(tx.customer_id, []).append(day)
    missed: list[tuple[str, date]] = []
    holders: set[str] = set()
    not_measured: set[str] = set()
    for profile in profiles:
        mortgages = [p.mortgage for p in profile.products if p.type == events_pb2.PRODUCT_TYPE_MORTGAGE]
        customer = profile.customer_id
        if not mortgages or customer not in first_seen:
            continue
        if customer not in paid:
            not_measured.add(customer)
            continue
        holders.add(customer)
        window = timedelta(days=PAID_WINDOW_DAYS)
        for mortgage in mortgages:
            for due in _due_dates(mortgage.payment_day or 1, first_seen[customer] + window,
                                  last_seen[customer] - window):
                if not any(abs(day - due) <= window for day in paid[customer]):
                    missed.append((customer, due))
    return missed, holders, not_measured


def _due_dates(payment_day: int, start: date, end: date) -> list[date]:
    out: list[date] = []
    year, month = start.year, start.month
    while True:
        due = date(year, month, min(payment_day, 28))
        if due > end:
            return out
        if due >= start:
            out.append(due)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
