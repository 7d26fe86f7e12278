"""What each flexible option would do to a mortgage: the new payment, for how long, and the cost.

Pure calculators. Whether an option is *open* to a customer is decided by `eligibility` (a new loan) and
`care` (an existing borrower); the parameters and customer-facing titles come from the policy data.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from services.mortgage import affordability as af
from services.mortgage import wording as w
from services.mortgage.model import ExistingMortgage, FlexOption

Params = dict[str, Any]


def _baseline_total(m: ExistingMortgage) -> int:
    """What the customer pays from now to the end if nothing changes (an interest-only loan repays at the end)."""
    total = m.monthly_payment_minor * m.remaining_term_months
    return total + (m.balance_minor if m.interest_only else 0)


def _option(m: ExistingMortgage, params: Params, code: str, new_payment: int, duration: int,
            description: str, total_paid: int) -> FlexOption:
    return FlexOption(
        code=code,
        title=params["title"],
        new_monthly_payment_minor=new_payment,
        monthly_change_minor=new_payment - m.monthly_payment_minor,
        duration_months=duration,
        description=description,
        credit_file_impact=params["credit_file_impact"],
        total_cost_change_minor=total_paid - _baseline_total(m),
    )


def overpayment(m: ExistingMortgage, params: Params) -> FlexOption | None:
    """Pay more each month within the penalty-free allowance for 12 months, then the usual payment again."""
    pct = params.get("annual_allowance_pct")
    allowance_pct = Fraction(Decimal(str(pct if pct is not None else params["illustrative_pct"])))
    allowance = af.floor_fraction(m.balance_minor, allowance_pct / 100)
    if pct is not None:
        allowance -= m.overpaid_this_year_minor
    extra = allowance // 12
    if extra <= 0 or m.interest_only or m.remaining_term_months <= 12:
        return None
    paying = m.monthly_payment_minor + extra
    after_year = af.balance_after(m.balance_minor, m.rate_bps, paying, 12)
    months_left = af.term_for_payment(after_year, m.rate_bps, m.monthly_payment_minor) if after_year else 0
    saved_months = m.remaining_term_months - 12 - months_left
    limit_text = (f"up to {w.money(allowance + m.overpaid_this_year_minor, m.currency)} a year without a charge"
                  if pct is not None else "with no prepayment penalty")
    description = (
        f"Pay {w.money(extra, m.currency)} more each month for a year ({limit_text}). You would clear the "
        f"mortgage about {w.months(max(saved_months, 0))} sooner and pay less interest."
    )
    total = paying * 12 + m.monthly_payment_minor * months_left
    return _option(m, params, "OVERPAYMENT", paying, 12, description, total)


def payment_holiday(m: ExistingMortgage, params: Params) -> FlexOption | None:
    """No payments for a few months. Either interest accrues and later payments rise (UK), or the missed
    payments are deferred, interest-free, to the end of the loan (US payment deferral)."""
    holiday = int(params["months"])
    remaining = m.remaining_term_months - holiday
    if remaining <= 0:
        return None
    if params.get("interest_accrues", True):
        grown = af.balance_after(m.balance_minor, m.rate_bps, 0, holiday)
        after = (af.interest_only_payment(grown, m.rate_bps) if m.interest_only
                 else af.annuity_payment(grown, m.rate_bps, remaining))
        total = after * remaining + (grown if m.interest_only else 0)
        description = (
            f"Pay nothing for {w.months(holiday)}. Interest keeps adding up, so afterwards your payment would be "
            f"{w.money(after, m.currency)} a month ({w.money(after - m.monthly_payment_minor, m.currency)} more) "
            f"for the rest of the term."
        )
    else:
        deferred = m.monthly_payment_minor * holiday
        total = _baseline_total(m)
        description = (
            f"Pay nothing for {w.months(holiday)}. The {w.money(deferred, m.currency)} you skip is moved, "
            f"interest-free, to the end of the loan; your payment afterwards stays "
            f"{w.money(m.monthly_payment_minor, m.currency)}."
        )
    return _option(m, params, "PAYMENT_HOLIDAY", 0, holiday, description, total)


def term_extension(m: ExistingMortgage, params: Params) -> FlexOption | None:
    """Spread the balance over a longer term: lower payments, more interest in total."""
    if m.interest_only:
        return None
    cap = int(params["max_total_term_months"])
    extend_by = params.get("extend_by_months")
    new_term = min(cap, m.remaining_term_months + int(extend_by)) if extend_by else cap
    if new_term <= m.remaining_term_months:
        return None
    payment = af.annuity_payment(m.balance_minor, m.rate_bps, new_term)
    revert = params.get("revert_window_months")
    revert_text = f" You can change back to your original term within {w.months(revert)}." if revert else ""
    description = (
        f"Extend the remaining term from {w.months(m.remaining_term_months)} to {w.months(new_term)}: "
        f"{w.money(payment, m.currency)} a month ({w.money(m.monthly_payment_minor - payment, m.currency)} less), "
        f"but more interest over the life of the loan.{revert_text}"
    )
    return _option(m, params, "TERM_EXTENSION", payment, new_term, description, payment * new_term)


def interest_only(m: ExistingMortgage, params: Params) -> FlexOption | None:
    """Pay only the interest for a few months, then repayments over the remaining term."""
    period = int(params["months"])
    remaining = m.remaining_term_months - period
    if m.interest_only or remaining <= 0:
        return None
    payment = af.interest_only_payment(m.balance_minor, m.rate_bps)
    after = af.annuity_payment(m.balance_minor, m.rate_bps, remaining)
    description = (
        f"Pay only the interest, {w.money(payment, m.currency)} a month, for {w.months(period)}. Your balance "
        f"stays the same, so afterwards the payment would be {w.money(after, m.currency)} a month."
    )
    return _option(m, params, "INTEREST_ONLY", payment, period, description, payment * period + after * remaining)


def rate_switch(m: ExistingMortgage, params: Params) -> FlexOption | None:
    """Move to the lender's current deal (a product transfer), without moving lender."""
    new_rate = int(params["rate_bps"])
    if new_rate == m.rate_bps:
        return None
    payment = (af.interest_only_payment(m.balance_minor, new_rate) if m.interest_only
               else af.annuity_payment(m.balance_minor, new_rate, m.remaining_term_months))
    fixed = int(params["fixed_months"])
    description = (
        f"Switch to our {w.months(fixed)} fixed rate of {w.rate(new_rate)} (you pay {w.rate(m.rate_bps)} now): "
        f"{w.money(payment, m.currency)} a month. You can lock the deal up to "
        f"{w.months(int(params['lock_ahead_months']))} before your current rate ends."
    )
    total = payment * m.remaining_term_months + (m.balance_minor if m.interest_only else 0)
    return _option(m, params, "RATE_SWITCH", payment, fixed, description, total)


def offset(m: ExistingMortgage, params: Params) -> FlexOption | None:
    """Link savings so interest is charged on the balance minus the savings."""
    savings = min(m.savings_minor, m.balance_minor)
    if savings < int(params["min_savings_minor"]) or m.interest_only:
        return None
    payment = af.annuity_payment(m.balance_minor - savings, m.rate_bps, m.remaining_term_months)
    description = (
        f"Link your {w.money(savings, m.currency)} savings: you pay no interest on that part of the balance, so "
        f"the payment would be {w.money(payment, m.currency)} a month while the savings stay linked, and you "
        f"can still use them."
    )
    total = payment * m.remaining_term_months + savings
    return _option(m, params, "OFFSET", payment, m.remaining_term_months, description, total)


CALCULATORS: dict[str, Callable[[ExistingMortgage, Params], FlexOption | None]] = {
    "OVERPAYMENT": overpayment,
    "PAYMENT_HOLIDAY": payment_holiday,
    "TERM_EXTENSION": term_extension,
    "INTEREST_ONLY": interest_only,
    "RATE_SWITCH": rate_switch,
    "OFFSET": offset,
}
