"""Impossible eligibility input: each failure is a ValidationError naming the request field.

Field paths follow the gRPC request (`applicants[0].gross_annual_income`, `loan.term_months`), so the
INVALID_ARGUMENT a caller receives points at what to fix. Values a policy merely refuses (a term longer
than the product allows, a low credit score) are not errors: they are failed checks with reasons.
"""

from __future__ import annotations

from decimal import Decimal

from services.mortgage.model import EligibilityRequest, ExistingMortgage
from services.mortgage.policy import OCCUPANCIES, PURPOSES, Policy
from services.platform.errors import ValidationError

MAX_TERM_MONTHS = 600         # 50 years: anything longer is a typo, not an application
MAX_RATE_BPS = 5_000          # 50% a year
MAX_AMOUNT_MINOR = 10**13     # the platform's bound on any amount


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ValidationError(field, message)


def _amount(value: int, field: str, *, positive: bool = False) -> None:
    if positive:
        _require(value > 0, field, "must be greater than zero")
    else:
        _require(value >= 0, field, "must not be negative")
    _require(value <= MAX_AMOUNT_MINOR, field, "is out of range")


def validate_request(req: EligibilityRequest, policy: Policy) -> None:
    """Raise ValidationError for the first impossible field; the policy gives currency and score range."""
    _require(req.currency == policy.currency, "loan.amount.currency",
             f"must be {policy.currency} for {policy.jurisdiction} lending, got {req.currency or 'none'}")
    _require(len(req.applicants) > 0, "applicants", "at least one applicant is required")
    _require(len(req.applicants) <= policy.underwriting.max_applicants, "applicants",
             f"at most {policy.underwriting.max_applicants} applicants can apply together")
    for i, a in enumerate(req.applicants):
        base = f"applicants[{i}]"
        _amount(a.gross_annual_income_minor, f"{base}.gross_annual_income")
        _amount(a.net_monthly_income_minor, f"{base}.net_monthly_income")
        _amount(a.monthly_debt_payments_minor, f"{base}.monthly_debt_payments")
        _amount(a.monthly_living_costs_minor, f"{base}.monthly_living_costs")
        score_range = policy.underwriting.credit_score_range
        if score_range is not None:
            low, high = score_range
            _require(low <= a.credit_score <= high, f"{base}.credit_score",
                     f"must be between {low} and {high}")
        else:
            _require(a.credit_score >= 0, f"{base}.credit_score", "must not be negative")
    _require(sum(a.gross_annual_income_minor for a in req.applicants) > 0, "applicants[0].gross_annual_income",
             "the applicants' total gross annual income must be greater than zero")
    if policy.underwriting.min_residual_income_minor is not None:
        _require(sum(a.net_monthly_income_minor for a in req.applicants) > 0, "applicants[0].net_monthly_income",
                 "the applicants' total net monthly income must be greater than zero")

    prop = req.property
    _amount(prop.value_minor, "property.value", positive=True)
    _require(1 <= prop.units <= 4, "property.units", "must be between 1 and 4")
    _require(prop.occupancy in OCCUPANCIES, "property.occupancy", f"must be one of {', '.join(OCCUPANCIES)}")
    _amount(prop.monthly_tax_insurance_hoa_minor, "property.monthly_tax_insurance_hoa")

    loan = req.loan
    _amount(loan.amount_minor, "loan.amount", positive=True)
    _require(loan.amount_minor <= prop.value_minor, "loan.amount",
             "is more than the property value (a loan-to-value over 100%)")
    _require(loan.term_months > 0, "loan.term_months", "must be at least one month")
    _require(loan.term_months <= MAX_TERM_MONTHS, "loan.term_months", f"must be at most {MAX_TERM_MONTHS} months")
    _require(0 <= loan.rate_bps <= MAX_RATE_BPS, "loan.rate_bps", f"must be between 0 and {MAX_RATE_BPS} basis points")
    _require(0 <= loan.fixed_months <= loan.term_months, "loan.fixed_months",
             "must be between 0 and the term")
    _require(loan.purpose in PURPOSES, "loan.purpose", f"must be one of {', '.join(PURPOSES)}")
    _amount(loan.liquid_reserves_minor, "loan.liquid_reserves")
    fees = loan.points_and_fees_pct
    _require(fees.is_finite() and Decimal(0) <= fees <= Decimal(100), "loan.points_and_fees_pct",
             "must be a percentage between 0 and 100")


def validate_mortgage(m: ExistingMortgage, policy: Policy, field: str = "mortgage") -> None:
    """An existing mortgage from the profile store that care options can be computed for."""
    _require(m.currency == policy.currency, f"{field}.balance.currency",
             f"must be {policy.currency} for a {policy.jurisdiction} mortgage")
    _amount(m.balance_minor, f"{field}.balance")
    _amount(m.monthly_payment_minor, f"{field}.monthly_payment")
    _amount(m.property_value_minor, f"{field}.property_value")
    _amount(m.overpaid_this_year_minor, f"{field}.overpaid_this_year")
    _require(0 < m.remaining_term_months <= MAX_TERM_MONTHS, f"{field}.remaining_term_months",
             f"must be between 1 and {MAX_TERM_MONTHS}")
    _require(0 <= m.rate_bps <= MAX_RATE_BPS, f"{field}.rate_bps", f"must be between 0 and {MAX_RATE_BPS}")
    _require(1 <= m.payment_day <= 31, f"{field}.payment_day", "must be a day of the month (1-31)")
    _require(m.fixed_months_remaining >= 0, f"{field}.fixed_months_remaining", "must not be negative")
