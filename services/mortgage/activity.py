"""A customer's recent account activity, folded one transaction at a time: the state signals read.

Pure and compact (what the worker keeps per customer in the store, as JSON): salary streams with their
recent dates and amounts, per-day spending / gambling / lowest balance, bounced direct debits and
short-term loans. Old days are dropped, so the state stays bounded however long the history is.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

KEEP_DAYS = 120            # history kept for baselines
KEEP_SALARIES = 60         # payments kept per income stream (weekly or gig income needs many)


@dataclass(frozen=True)
class Txn:
    """The fields of an `events_pb2.Transaction` the mortgage signals use."""

    id: str
    at: datetime             # UTC
    amount_minor: int        # >= 0; `is_credit` gives the sign
    currency: str
    is_credit: bool
    channel: str             # the events_pb2.Channel name, e.g. "SALARY", "DIRECT_DEBIT"
    returned: bool = False   # a bounced direct debit / unpaid item: no money moved
    mcc: str = ""
    merchant_name: str = ""
    description: str = ""
    counterparty_id: str = ""
    balance_after_minor: int | None = None
    account_id: str = ""


@dataclass
class SalaryStream:
    payer: str                          # display name, e.g. "ACME"
    dates: list[date] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)


@dataclass
class DayStats:
    spend_minor: int = 0                # booked debits
    gambling_minor: int = 0
    lowest_balance_minor: int | None = None
    mortgage_minor: int = 0             # of the debits, mortgage payments
    scheduled_minor: int = 0            # of the debits, direct debits (bills on a day of the month)


@dataclass
class Activity:
    currency: str = ""
    first_seen: date | None = None
    last_seen: date | None = None
    main_account: str = ""              # the account salaries arrive in / the mortgage is paid from
    balance_minor: int | None = None    # its latest balance
    salaries: dict[str, SalaryStream] = field(default_factory=dict)   # by counterparty id
    days: dict[date, DayStats] = field(default_factory=dict)
    returned_debits: list[tuple[date, str, int]] = field(default_factory=list)  # (day, payee, amount)
    short_term_loans: list[tuple[date, str, int]] = field(default_factory=list)  # (day, lender, amount)
    mortgage_returned: list[date] = field(default_factory=list)
    mortgage_paid_on: date | None = None  # the last mortgage payment collected
    # transactions that arrived before the customer's profile, unfolded, in arrival order (serialized
    # Transaction messages); `held_over` once the wait for the profile ended without it (worker.py)
    held: list[bytes] = field(default_factory=list)
    held_over: bool = False


@dataclass(frozen=True)
class Classifier:
    """Which transactions count as gambling or short-term (payday) lending: from the policy data."""

    gambling_mccs: frozenset[str]
    payday_loan_mccs: frozenset[str]
    payday_loan_keywords: tuple[str, ...]

    def is_gambling(self, t: Txn) -> bool:
        return t.mcc in self.gambling_mccs

    def is_payday_loan(self, t: Txn) -> bool:
        if not t.is_credit or t.channel == "SALARY":
            return False
        if t.mcc and t.mcc in self.payday_loan_mccs:
            return True
        text = f"{t.merchant_name} {t.description}".lower()
        return any(k in text for k in self.payday_loan_keywords)


def payer_name(t: Txn) -> str:
    """Who pays a salary, as the customer knows it: "Salary ACME Ltd" reads as "ACME Ltd"."""
    name = t.merchant_name or t.description
    for prefix in ("salary ", "wages "):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
    return name.strip() or t.counterparty_id or "your employer"


def apply(activity: Activity, t: Txn, classify: Classifier) -> Activity:
    """Fold one transaction into the activity (mutates and returns it)."""
    day = t.at.date()
    activity.currency = activity.currency or t.currency
    if activity.last_seen is None or day > activity.last_seen:
        activity.last_seen = day
    if activity.first_seen is None or day < activity.first_seen:
        activity.first_seen = day
    if t.channel in ("SALARY", "MORTGAGE_PAYMENT", "DIRECT_DEBIT") and t.account_id:
        activity.main_account = t.account_id
    if t.balance_after_minor is not None and (not activity.main_account or t.account_id == activity.main_account
                                              or not t.account_id):
        activity.balance_minor = t.balance_after_minor
    if t.returned:
        payee = t.merchant_name or t.description or t.counterparty_id or "a payment"
        activity.returned_debits.append((day, payee, t.amount_minor))
        if t.channel == "MORTGAGE_PAYMENT":
            activity.mortgage_returned.append(day)
    else:
        stats = activity.days.setdefault(day, DayStats())
        if t.balance_after_minor is not None and (
                stats.lowest_balance_minor is None or t.balance_after_minor < stats.lowest_balance_minor):
            stats.lowest_balance_minor = t.balance_after_minor
        if t.channel == "MORTGAGE_PAYMENT" and not t.is_credit:
            activity.mortgage_paid_on = day
        if t.is_credit and t.channel == "SALARY":
            key = t.counterparty_id or payer_name(t)
            stream = activity.salaries.setdefault(key, SalaryStream(payer=payer_name(t)))
            stream.dates.append(day)
            stream.amounts.append(t.amount_minor)
            del stream.dates[:-KEEP_SALARIES], stream.amounts[:-KEEP_SALARIES]
        elif classify.is_payday_loan(t):
            activity.short_term_loans.append((day, t.merchant_name or t.description or "a lender", t.amount_minor))
        elif not t.is_credit:
            stats.spend_minor += t.amount_minor
            if t.channel == "MORTGAGE_PAYMENT":
                stats.mortgage_minor += t.amount_minor
            elif t.channel == "DIRECT_DEBIT":
                stats.scheduled_minor += t.amount_minor
            if classify.is_gambling(t):
                stats.gambling_minor += t.amount_minor
    _prune(activity)
    return activity


def _prune(activity: Activity) -> None:
    if activity.last_seen is None:
        return
    horizon = activity.last_seen.toordinal() - KEEP_DAYS
    for day in [d for d in activity.days if d.toordinal() < horizon]:
        del activity.days[day]
    activity.returned_debits = [r for r in activity.returned_debits if r[0].toordinal() >= horizon]
    activity.short_term_loans = [r for r in activity.short_term_loans if r[0].toordinal() >= horizon]
    activity.mortgage_returned = [d for d in activity.mortgage_returned if d.toordinal() >= horizon]
    for stream in activity.salaries.values():
        keep = next((i for i, d in enumerate(stream.dates) if d.toordinal() >= horizon), len(stream.dates))
        keep = min(keep, max(len(stream.dates) - 2, 0))  # the last two payments are kept whatever their age
        del stream.dates[:keep], stream.amounts[:keep]


# ----------------------------------------------------------------------------------------- JSON form

def to_json(activity: Activity) -> dict[str, Any]:
    return {
        "currency": activity.currency,
        "last_seen": activity.last_seen.isoformat() if activity.last_seen else None,
        "first_seen": activity.first_seen.isoformat() if activity.first_seen else None,
        "main_account": activity.main_account,
        "balance": activity.balance_minor,
        "salaries": {k: {"payer": s.payer, "dates": [d.isoformat() for d in s.dates], "amounts": s.amounts}
                     for k, s in activity.salaries.items()},
        "days": {d.isoformat(): [s.spend_minor, s.gambling_minor, s.lowest_balance_minor, s.mortgage_minor,
                                       s.scheduled_minor]
                 for d, s in sorted(activity.days.items())},
        "returned": [[d.isoformat(), p, a] for d, p, a in activity.returned_debits],
        "loans": [[d.isoformat(), p, a] for d, p, a in activity.short_term_loans],
        "mortgage_returned": [d.isoformat() for d in activity.mortgage_returned],
        "mortgage_paid_on": activity.mortgage_paid_on.isoformat() if activity.mortgage_paid_on else None,
        "held": [base64.b64encode(h).decode("ascii") for h in activity.held],
        "held_over": activity.held_over,
    }


def from_json(raw: dict[str, Any]) -> Activity:
    return Activity(
        currency=raw.get("currency", ""),
        last_seen=date.fromisoformat(raw["last_seen"]) if raw.get("last_seen") else None,
        first_seen=date.fromisoformat(raw["first_seen"]) if raw.get("first_seen") else None,
        main_account=raw.get("main_account", ""),
        balance_minor=raw.get("balance"),
        salaries={k: SalaryStream(payer=s["payer"], dates=[date.fromisoformat(d) for d in s["dates"]],
                                  amounts=list(s["amounts"]))
                  for k, s in raw.get("salaries", {}).items()},
        days={date.fromisoformat(d): DayStats(*v) for d, v in raw.get("days", {}).items()},
        returned_debits=[(date.fromisoformat(d), p, a) for d, p, a in raw.get("returned", [])],
        short_term_loans=[(date.fromisoformat(d), p, a) for d, p, a in raw.get("loans", [])],
        mortgage_returned=[date.fromisoformat(d) for d in raw.get("mortgage_returned", [])],
        mortgage_paid_on=date.fromisoformat(raw["mortgage_paid_on"]) if raw.get("mortgage_paid_on") else None,
        held=[base64.b64decode(h) for h in raw.get("held", [])],
        held_over=bool(raw.get("held_over", False)),
    )
