"""The nudge rules, one pure function each, registered by the nudge type the policy configures."""

from __future__ import annotations

from services.advice.rules import balance, charges, payments, shortfall, spending
from services.advice.rules.base import Candidate, Reason, Rule, RuleContext

RULES: dict[str, Rule] = {
    shortfall.TYPE: shortfall.projected_shortfall,
    payments.INCOME_LATE: payments.income_late,
    balance.LOW_BALANCE: balance.low_balance,
    charges.DUPLICATE_CHARGE: charges.duplicate_charge,
    charges.FEE_CHARGED: charges.fee_charged,
    payments.PRICE_INCREASE: payments.price_increase,
    payments.NEW_SUBSCRIPTION: payments.new_subscription,
    spending.SPENDING_SPIKE: spending.spending_spike,
    balance.IDLE_CASH: balance.idle_cash,
}

__all__ = ["RULES", "Candidate", "Reason", "Rule", "RuleContext"]
