"""Impossible eligibility input: each raises ValidationError naming the field, with a clear message."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from services.mortgage.eligibility import check_eligibility
from services.mortgage.model import Applicant
from services.platform.errors import ValidationError
from tests.unit.mortgage.builders import uk_request, us_request

BAD_INPUTS = [
    # (case, request, field, words the message must contain)
    ("negative income", uk_request(applicant={"gross_annual_income_minor": -1}),
     "applicants[0].gross_annual_income", "negative"),
    ("negative net income", uk_request(applicant={"net_monthly_income_minor": -5}),
     "applicants[0].net_monthly_income", "negative"),
    ("negative debts", us_request(applicant={"monthly_debt_payments_minor": -100}),
     "applicants[0].monthly_debt_payments", "negative"),
    ("negative living costs", uk_request(applicant={"monthly_living_costs_minor": -1}),
     "applicants[0].monthly_living_costs", "negative"),
    ("zero total income", uk_request(applicant={"gross_annual_income_minor": 0}),
     "applicants[0].gross_annual_income", "greater than zero"),
    ("UK without net income", uk_request(applicant={"net_monthly_income_minor": 0}),
     "applicants[0].net_monthly_income", "greater than zero"),
    ("no applicants", replace(uk_request(), applicants=()), "applicants", "at least one"),
    ("five applicants", uk_request(applicants=tuple(Applicant(10_000_00, 1_000_00) for _ in range(5))),
     "applicants", "at most 4"),
    ("US score out of range", us_request(applicant={"credit_score": 900}), "applicants[0].credit_score",
     "between 300 and 850"),
    ("US score missing", us_request(applicant={"credit_score": 0}), "applicants[0].credit_score", "between"),
    ("LTV over 100%", uk_request(loan={"amount_minor": 300_000_01}), "loan.amount", "over 100%"),
    ("zero loan", uk_request(loan={"amount_minor": 0}), "loan.amount", "greater than zero"),
    ("zero term", uk_request(loan={"term_months": 0}), "loan.term_months", "at least one month"),
    ("negative term", us_request(loan={"term_months": -360}), "loan.term_months", "at least one month"),
    ("absurd term", uk_request(loan={"term_months": 6000}), "loan.term_months", "at most 600"),
    ("negative rate", uk_request(loan={"rate_bps": -1}), "loan.rate_bps", "between 0 and"),
    ("rate 60%", uk_request(loan={"rate_bps": 6000}), "loan.rate_bps", "between 0 and"),
    ("fix longer than term", uk_request(loan={"fixed_months": 301}), "loan.fixed_months", "between 0 and the term"),
    ("unknown purpose", uk_request(loan={"purpose": "LOAN_PURPOSE_UNSPECIFIED"}), "loan.purpose", "one of"),
    ("negative reserves", us_request(loan={"liquid_reserves_minor": -1}), "loan.liquid_reserves", "negative"),
    ("negative fees", us_request(loan={"points_and_fees_pct": Decimal("-1")}), "loan.points_and_fees_pct",
     "between 0 and 100"),
    ("NaN fees", us_request(loan={"points_and_fees_pct": Decimal("NaN")}), "loan.points_and_fees_pct",
     "between 0 and 100"),
    ("zero property value", uk_request(prop={"value_minor": 0}), "property.value", "greater than zero"),
    ("five units", us_request(prop={"units": 5}), "property.units", "between 1 and 4"),
    ("zero units", us_request(prop={"units": 0}), "property.units", "between 1 and 4"),
    ("unknown occupancy", us_request(prop={"occupancy": "OCCUPANCY_UNSPECIFIED"}), "property.occupancy", "one of"),
    ("negative tax", us_request(prop={"monthly_tax_insurance_hoa_minor": -1}),
     "property.monthly_tax_insurance_hoa", "negative"),
    ("unknown jurisdiction", uk_request(jurisdiction="FR"), "jurisdiction", "unknown jurisdiction 'FR'"),
    ("empty jurisdiction", uk_request(jurisdiction=""), "jurisdiction", "unknown jurisdiction"),
    ("wrong currency for UK", uk_request(currency="USD"), "loan.amount.currency", "must be GBP"),
    ("wrong currency for US", us_request(currency="EUR"), "loan.amount.currency", "must be USD"),
    ("before any policy", uk_request(as_of=date(2001, 1, 1)), "as_of_date", "no UK lending policy"),
]


@pytest.mark.parametrize(("case", "request_", "field", "words"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_impossible_input_is_rejected_naming_the_field(case: str, request_, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        check_eligibility(request_)
    assert err.value.field == field, case
    assert words in err.value.message, err.value.message
