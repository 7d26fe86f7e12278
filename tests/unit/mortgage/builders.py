"""Valid eligibility requests and mortgages by default; a test overrides only what it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from services.mortgage.model import Applicant, EligibilityRequest, ExistingMortgage, LoanTerms, PropertyDetails

TODAY = date(2025, 6, 2)


def us_request(*, applicant: dict[str, Any] | None = None, prop: dict[str, Any] | None = None,
               loan: dict[str, Any] | None = None, applicants: tuple[Applicant, ...] | None = None,
               **top: Any) -> EligibilityRequest:
    """$120,000 a year, $500 debts, score 740; $400,000 home, $600 tax/insurance; $320,000 30y fixed 6.50%."""
    a = Applicant(gross_annual_income_minor=120_000_00, monthly_debt_payments_minor=500_00, credit_score=740)
    p = PropertyDetails(value_minor=400_000_00, monthly_tax_insurance_hoa_minor=600_00)
    l = LoanTerms(amount_minor=320_000_00, term_months=360, rate_bps=650, liquid_reserves_minor=50_000_00)  # noqa: E741
    req = EligibilityRequest(jurisdiction="US", currency="USD",
                             applicants=applicants or (replace(a, **(applicant or {})),),
                             property=replace(p, **(prop or {})), loan=replace(l, **(loan or {})), as_of=TODAY)
    return replace(req, **top)


def uk_request(*, applicant: dict[str, Any] | None = None, prop: dict[str, Any] | None = None,
               loan: dict[str, Any] | None = None, applicants: tuple[Applicant, ...] | None = None,
               **top: Any) -> EligibilityRequest:
    """£50,000 gross, £3,200 net a month, £200 debts, £1,200 living costs; £300,000 home; £200,000 over 25
    years at 4.50% fixed for 2 years."""
    a = Applicant(gross_annual_income_minor=50_000_00, net_monthly_income_minor=3_200_00,
                  monthly_debt_payments_minor=200_00, monthly_living_costs_minor=1_200_00)
    p = PropertyDetails(value_minor=300_000_00)
    l = LoanTerms(amount_minor=200_000_00, term_months=300, rate_bps=450, fixed_months=24)  # noqa: E741
    req = EligibilityRequest(jurisdiction="UK", currency="GBP",
                             applicants=applicants or (replace(a, **(applicant or {})),),
                             property=replace(p, **(prop or {})), loan=replace(l, **(loan or {})), as_of=TODAY)
    return replace(req, **top)


def uk_mortgage(**overrides: Any) -> ExistingMortgage:
    """£150,000 left over 20 years at 4.50% (payment £948.97), on a £300,000 home (LTV 50%), due on the 1st."""
    m = ExistingMortgage(id="mtg-1", jurisdiction="UK", currency="GBP", balance_minor=150_000_00, rate_bps=450,
                         remaining_term_months=240, monthly_payment_minor=948_97, payment_day=1,
                         property_value_minor=300_000_00, fixed_months_remaining=0)
    return replace(m, **overrides)


def us_mortgage(**overrides: Any) -> ExistingMortgage:
    m = ExistingMortgage(id="mtg-9", jurisdiction="US", currency="USD", balance_minor=250_000_00, rate_bps=600,
                         remaining_term_months=300, monthly_payment_minor=1_610_75, payment_day=1,
                         property_value_minor=400_000_00)
    return replace(m, **overrides)
