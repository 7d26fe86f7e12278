"""Affordability arithmetic: pure functions over integer minor units, exact where it matters.

Conventions
- Amounts are integer minor units (pence, cents) of one currency; the caller keeps the currency.
- Rates are annual nominal rates in basis points (425 = 4.25%); the monthly rate is rate / 12.
- Arithmetic runs in `Decimal` at 40 significant digits; a payment is rounded to the minor unit
  half-up (the amount the customer is asked to pay), a maximum loan is rounded down (never above a limit).
- Ratios (DTI, LTV, LTI) are exact `Fraction`s so a limit test at the boundary ("DTI exactly 50%") is exact.

Formulas (reference/mortgage.md):
  annuity M = P r (1+r)^n / ((1+r)^n - 1)   (M = P / n when r = 0)
  interest-only M = P r
  balance after k payments B_k = P (1+r)^k - M ((1+r)^k - 1) / r
  term for a target payment n = -ln(1 - rP/M) / ln(1+r)
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from services.platform.errors import ValidationError

_PRECISION = 40
_BPS_PER_MONTH = Decimal(10_000 * 12)
MAX_TERM_MONTHS = 1200  # a hard sanity bound for the arithmetic, not a lending policy


def _monthly_rate(rate_bps: int) -> Decimal:
    return Decimal(rate_bps) / _BPS_PER_MONTH


def _round_half_up(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_HALF_UP))


def _round_down(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def _check_principal(principal_minor: int, field: str = "principal_minor") -> None:
    if principal_minor < 0:
        raise ValidationError(field, "must not be negative")


def _check_rate(rate_bps: int, field: str = "rate_bps") -> None:
    if rate_bps < 0:
        raise ValidationError(field, "must not be negative")


def _check_term(term_months: int, field: str = "term_months") -> None:
    if term_months <= 0:
        raise ValidationError(field, "must be at least one month")
    if term_months > MAX_TERM_MONTHS:
        raise ValidationError(field, f"must be at most {MAX_TERM_MONTHS} months")


def annuity_payment(principal_minor: int, rate_bps: int, term_months: int) -> int:
    """Level monthly payment that repays `principal_minor` over `term_months`, rounded half-up."""
    _check_principal(principal_minor)
    _check_rate(rate_bps)
    _check_term(term_months)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        p = Decimal(principal_minor)
        r = _monthly_rate(rate_bps)
        if r == 0:
            return _round_half_up(p / term_months)
        growth = (1 + r) ** term_months
        return _round_half_up(p * r * growth / (growth - 1))


def interest_only_payment(principal_minor: int, rate_bps: int) -> int:
    """Monthly interest on `principal_minor`, rounded half-up; the balance does not fall."""
    _check_principal(principal_minor)
    _check_rate(rate_bps)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _round_half_up(Decimal(principal_minor) * _monthly_rate(rate_bps))


def balance_after(principal_minor: int, rate_bps: int, payment_minor: int, payments_made: int) -> int:
    """Outstanding balance after `payments_made` level payments of `payment_minor`, rounded half-up.

    A payment below the monthly interest makes the balance grow (negative amortization); a balance
    that would go below zero is reported as 0 (the loan is repaid).
    """
    _check_principal(principal_minor)
    _check_rate(rate_bps)
    if payment_minor < 0:
        raise ValidationError("payment_minor", "must not be negative")
    if payments_made < 0:
        raise ValidationError("payments_made", "must not be negative")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        p, m = Decimal(principal_minor), Decimal(payment_minor)
        r = _monthly_rate(rate_bps)
        if r == 0:
            remaining = p - m * payments_made
        else:
            growth = (1 + r) ** payments_made
            remaining = p * growth - m * (growth - 1) / r
        return max(0, _round_half_up(remaining))


def term_for_payment(principal_minor: int, rate_bps: int, payment_minor: int) -> int:
    """Fewest whole months whose level payment (as `annuity_payment` rounds it) is <= `payment_minor`.

    Raises ValidationError when the payment does not cover the first month's interest: the loan would
    never be repaid.
    """
    _check_principal(principal_minor)
    _check_rate(rate_bps)
    if payment_minor <= 0:
        raise ValidationError("payment_minor", "must be positive")
    if principal_minor == 0:
        return 0
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        p, m = Decimal(principal_minor), Decimal(payment_minor)
        r = _monthly_rate(rate_bps)
        if r == 0:
            estimate = -(-principal_minor // payment_minor)
        else:
            if m <= r * p:
                raise ValidationError("payment_minor",
                                      "does not cover the monthly interest: the loan would never be repaid")
            n = -((1 - r * p / m).ln()) / (1 + r).ln()
            estimate = max(1, _round_down(n))
    # The closed form is exact in real numbers; settle the integer answer against the rounded payment.
    n_months = max(1, estimate - 1)
    while n_months <= MAX_TERM_MONTHS and annuity_payment(principal_minor, rate_bps, n_months) > payment_minor:
        n_months += 1
    if n_months > MAX_TERM_MONTHS:
        raise ValidationError("payment_minor", f"would need more than {MAX_TERM_MONTHS} months to repay")
    return n_months


def max_principal(payment_minor: int, rate_bps: int, term_months: int) -> int:
    """Largest whole principal whose exact annuity payment over `term_months` is <= `payment_minor`.

    The present value of the payment stream, rounded down: its rounded payment never exceeds the target.
    """
    _check_rate(rate_bps)
    _check_term(term_months)
    if payment_minor <= 0:
        return 0
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        m = Decimal(payment_minor)
        r = _monthly_rate(rate_bps)
        if r == 0:
            principal = _round_down(m * term_months)
        else:
            growth = (1 + r) ** term_months
            principal = _round_down(m * (growth - 1) / (r * growth))
    return principal


def stressed_payment(principal_minor: int, rate_bps: int, stress_add_bps: int, term_months: int) -> int:
    """The annuity payment if the rate rose by `stress_add_bps`."""
    if stress_add_bps < 0:
        raise ValidationError("stress_add_bps", "must not be negative")
    return annuity_payment(principal_minor, rate_bps + stress_add_bps, term_months)


def total_interest(principal_minor: int, payment_minor: int, term_months: int) -> int:
    """Interest paid over the life of a level-payment loan: all payments minus the principal."""
    return payment_minor * term_months - principal_minor


def _ratio(numerator: int, denominator: int, field: str) -> Fraction:
    if denominator <= 0:
        raise ValidationError(field, "must be positive")
    if numerator < 0:
        raise ValidationError(field, "numerator must not be negative")
    return Fraction(numerator, denominator)


def debt_to_income(monthly_obligations_minor: int, gross_monthly_income_minor: int) -> Fraction:
    """DTI = all monthly obligations including the new housing payment / gross monthly income."""
    return _ratio(monthly_obligations_minor, gross_monthly_income_minor, "gross_monthly_income_minor")


def loan_to_value(loan_minor: int, property_value_minor: int) -> Fraction:
    """LTV = loan / property value."""
    return _ratio(loan_minor, property_value_minor, "property_value_minor")


def loan_to_income(loan_minor: int, gross_annual_income_minor: int) -> Fraction:
    """LTI = loan / gross annual income (all applicants)."""
    return _ratio(loan_minor, gross_annual_income_minor, "gross_annual_income_minor")


def residual_income(net_monthly_income_minor: int, monthly_commitments_minor: int, payment_minor: int) -> int:
    """What is left each month after commitments, living costs and the mortgage payment (may be < 0)."""
    return net_monthly_income_minor - monthly_commitments_minor - payment_minor


def floor_fraction(amount_minor: int, ratio: Fraction) -> int:
    """floor(amount x ratio): the largest whole minor-unit amount that keeps within a ratio limit."""
    product = ratio * amount_minor
    return product.numerator // product.denominator


def below_fraction(amount_minor: int, ratio: Fraction) -> int:
    """The largest whole minor-unit amount strictly below amount x ratio (for "at or above" limits)."""
    product = ratio * amount_minor
    whole = product.numerator // product.denominator
    return whole - 1 if product == whole else whole
