"""Whether to offer care now: signals of difficulty + the next mortgage payment date -> offer, options, and
whether an adviser should call. Pure.

An offer goes out when the signals are concerning (one strong signal - a missing salary, falling income, a
returned mortgage payment - or two weaker ones) and the next payment is due within the policy's offer
window, so the customer hears from us *before* the payment fails. Its id is derived from the customer,
mortgage and due date: one offer per payment, however often the worker re-evaluates.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from services.mortgage import wording as w
from services.mortgage.care import care_options
from services.mortgage.model import ExistingMortgage, FlexOption, Reason
from services.mortgage.policy import policy_in_force
from services.mortgage.signals import (
    GAMBLING_SHARE_RISING,
    MORTGAGE_PAYMENT_RETURNED,
    PAYDAY_LOAN,
    Signal,
)

# Options that lower the payment, in the order we suggest them when income has stopped or fallen.
RELIEF_ORDER = ("PAYMENT_HOLIDAY", "INTEREST_ONLY", "TERM_EXTENSION", "RATE_SWITCH")
VULNERABILITY = frozenset({PAYDAY_LOAN, GAMBLING_SHARE_RISING, MORTGAGE_PAYMENT_RETURNED})


@dataclass(frozen=True)
class CareDecision:
    offer: bool
    escalate: bool                 # raise an advisor task too (complex or vulnerable case)
    offer_id: str
    due_date: date
    days_to_payment: int
    options: tuple[FlexOption, ...]
    reasons: tuple[Reason, ...]
    signals: tuple[Signal, ...]
    policy_version: str


PAID_EARLY_DAYS = 5  # a payment collected up to this many days before its date settles that date


def next_payment_date(payment_day: int, today: date, last_paid: date | None = None) -> date:
    """The first collection date on or after `today` not already paid (a payment day past the month's end
    means its last day)."""
    for months_ahead in (0, 1, 2):
        index = today.year * 12 + today.month - 1 + months_ahead
        year, month = divmod(index, 12)
        due = date(year, month + 1, min(payment_day, calendar.monthrange(year, month + 1)[1]))
        settled = last_paid is not None and 0 <= (due - last_paid).days <= PAID_EARLY_DAYS
        if due >= today and not settled:
            return due
    raise AssertionError("unreachable: a payment date within three months is always ahead")


def offer_id(customer_id: str, mortgage_id: str, due: date) -> str:
    return f"mortgage-care:{customer_id}:{mortgage_id}:{due.isoformat()}"


def decide(customer_id: str, mortgage: ExistingMortgage, signals: list[Signal], today: date,
           last_paid: date | None = None) -> CareDecision:
    policy = policy_in_force(mortgage.jurisdiction, today, field="mortgage.jurisdiction")
    due = next_payment_date(mortgage.payment_day, today, last_paid)
    days_left = (due - today).days
    concerning = any(s.strong for s in signals) or len(signals) >= 2
    offer = concerning and days_left <= policy.care.offer_window_days
    care = care_options(customer_id, mortgage, today)
    fitting = _fitting(care.options)
    complex_case = (mortgage.in_arrears or len(signals) >= policy.care.advisor_min_signals
                    or any(s.code in VULNERABILITY for s in signals) or not fitting)
    reasons = [Reason(s.code, s.text, s.weight) for s in signals]
    payment = w.money(mortgage.monthly_payment_minor, mortgage.currency)
    reasons.append(Reason("NEXT_PAYMENT_DUE", f"Your next mortgage payment of {payment} is due on "
                                              f"{due.strftime('%d %B')}."))
    if concerning and not offer:
        check_on = due - timedelta(days=policy.care.offer_window_days)
        reasons.append(Reason("OFFER_LATER", f"Your next payment is {days_left} days away; we will check in "
                                             f"from {check_on.strftime('%d %B')}."))
    if offer:
        reasons.extend(care.reasons)
    return CareDecision(
        offer=offer,
        escalate=offer and complex_case,
        offer_id=offer_id(customer_id, mortgage.id, due),
        due_date=due,
        days_to_payment=days_left,
        options=fitting if offer else (),
        reasons=tuple(reasons),
        signals=tuple(signals),
        policy_version=policy.version,
    )


def _fitting(options: tuple[FlexOption, ...]) -> tuple[FlexOption, ...]:
    """Options that lower the monthly payment, in the order we suggest them."""
    relief = [o for o in options if o.code in RELIEF_ORDER and o.monthly_change_minor < 0]
    return tuple(sorted(relief, key=lambda o: RELIEF_ORDER.index(o.code)))
