"""Worked eligibility cases against hand-computed figures, with the boundary at every limit."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from services.mortgage.eligibility import check_eligibility
from services.mortgage.model import Applicant, EligibilityResult, MetricCheck, Outcome
from tests.unit.mortgage.builders import uk_request, us_request


def check(result: EligibilityResult, name: str) -> MetricCheck:
    return next(c for c in result.checks if c.name == name)


def codes(result: EligibilityResult) -> set[str]:
    return {r.code for r in result.reasons}


# ------------------------------------------------------------------------------------------ United States

def test_us_worked_case_is_eligible_with_hand_computed_figures() -> None:
    result = check_eligibility(us_request())
    # $320,000 at 6.50% over 30 years: $2,022.62. DTI = (2,022.62 + 600 + 500) / 10,000 = 31.2262%.
    assert result.outcome is Outcome.ELIGIBLE
    assert result.monthly_payment_minor == 2_022_62
    assert result.stressed_monthly_payment_minor == 2_022_62  # a 30-year fixed qualifies at the note rate
    assert check(result, "DTI").value == Fraction(3_122_62, 10_000_00)
    assert check(result, "LTV").value == Fraction(4, 5)
    assert check(result, "LTV").limit == Fraction(97, 100)
    # The DTI would allow $617,022; 97% of the value, $388,000, binds.
    assert result.max_loan_minor == 388_000_00
    assert result.policy_version == "US-2024-01-01"
    assert "ALL_CHECKS_PASSED" in codes(result) and "ABILITY_TO_REPAY" in codes(result)
    assert [o.code for o in result.options] == ["OVERPAYMENT"]  # forbearance/modification are not product features


def test_us_dti_exactly_50_percent_is_eligible_and_a_cent_more_declines() -> None:
    # $84,000 a year = $7,000 a month; 2,022.62 + 600 + 877.38 = 3,500.00 = exactly 50%.
    at_limit = check_eligibility(us_request(applicant={"gross_annual_income_minor": 84_000_00,
                                                       "monthly_debt_payments_minor": 877_38}))
    assert check(at_limit, "DTI").value == Fraction(1, 2)
    assert check(at_limit, "DTI").passed
    assert at_limit.outcome is Outcome.ELIGIBLE
    # The largest loan keeping DTI at 50%: the present value of $2,022.62 = $320,000.367 -> $320,000.36.
    assert at_limit.max_loan_minor == 320_000_36

    over = check_eligibility(us_request(applicant={"gross_annual_income_minor": 84_000_00,
                                                   "monthly_debt_payments_minor": 877_39}))
    assert not check(over, "DTI").passed
    assert over.outcome is Outcome.DECLINE
    assert "DTI_ABOVE_LIMIT" in codes(over)
    assert over.options == ()


US_LTV_CELLS = [
    # occupancy, purpose, units, is_arm, limit (Fannie Mae DU matrix)
    ("PRINCIPAL_RESIDENCE", "PURCHASE", 1, False, Fraction(97, 100)),
    ("PRINCIPAL_RESIDENCE", "PURCHASE", 1, True, Fraction(95, 100)),
    ("PRINCIPAL_RESIDENCE", "RATE_TERM_REFINANCE", 2, False, Fraction(95, 100)),
    ("PRINCIPAL_RESIDENCE", "PURCHASE", 4, True, Fraction(95, 100)),
    ("PRINCIPAL_RESIDENCE", "CASH_OUT_REFINANCE", 1, False, Fraction(80, 100)),
    ("PRINCIPAL_RESIDENCE", "CASH_OUT_REFINANCE", 3, False, Fraction(75, 100)),
    ("SECOND_HOME", "PURCHASE", 1, False, Fraction(90, 100)),
    ("SECOND_HOME", "CASH_OUT_REFINANCE", 1, False, Fraction(75, 100)),
    ("INVESTMENT", "PURCHASE", 1, False, Fraction(85, 100)),
    ("INVESTMENT", "PURCHASE", 2, False, Fraction(75, 100)),
    ("INVESTMENT", "RATE_TERM_REFINANCE", 3, False, Fraction(75, 100)),
    ("INVESTMENT", "CASH_OUT_REFINANCE", 1, False, Fraction(75, 100)),
    ("INVESTMENT", "CASH_OUT_REFINANCE", 4, False, Fraction(70, 100)),
]


@pytest.mark.parametrize(("occupancy", "purpose", "units", "is_arm", "limit"), US_LTV_CELLS)
def test_us_ltv_matrix_cell_edge(occupancy: str, purpose: str, units: int, is_arm: bool, limit: Fraction) -> None:
    value = 400_000_00
    at_edge = int(limit * value)

    def request(amount: int):
        return us_request(applicant={"gross_annual_income_minor": 1_000_000_00},
                          prop={"value_minor": value, "occupancy": occupancy, "units": units},
                          loan={"amount_minor": amount, "purpose": purpose, "fixed_rate": not is_arm,
                                "fixed_months": 60 if is_arm else 0, "liquid_reserves_minor": 1_000_000_00})

    edge = check_eligibility(request(at_edge))
    assert check(edge, "LTV").limit == limit
    assert check(edge, "LTV").passed
    assert edge.outcome is Outcome.ELIGIBLE
    assert edge.max_loan_minor == at_edge

    above = check_eligibility(request(at_edge + 1))
    assert not check(above, "LTV").passed
    assert above.outcome is Outcome.DECLINE
    assert "LTV_ABOVE_LIMIT" in codes(above)


def test_us_second_home_with_two_units_is_not_offered() -> None:
    result = check_eligibility(us_request(prop={"occupancy": "SECOND_HOME", "units": 2}))
    assert result.outcome is Outcome.DECLINE
    assert "PRODUCT_NOT_OFFERED" in codes(result)
    assert result.max_loan_minor == 0


@pytest.mark.parametrize(
    ("scores", "passed"),
    [((620,), True), ((619,), False), ((600, 640), True), ((600, 639), False), ((850,), True)],
)
def test_us_credit_score_minimum_uses_the_average_of_the_applicants(scores: tuple[int, ...], passed: bool) -> None:
    applicants = tuple(Applicant(gross_annual_income_minor=120_000_00, credit_score=s) for s in scores)
    result = check_eligibility(us_request(applicants=applicants))
    assert check(result, "CREDIT_SCORE").passed is passed
    assert result.outcome is (Outcome.ELIGIBLE if passed else Outcome.DECLINE)
    if not passed:
        assert result.max_loan_minor == 0


def test_us_short_arm_qualifies_at_the_note_rate_plus_two_points() -> None:
    five_six = check_eligibility(us_request(loan={"fixed_rate": False, "fixed_months": 60}))
    # 6.50% + 2.00% = 8.50%: $320,000 over 30 years = $2,460.52.
    assert five_six.stressed_monthly_payment_minor == 2_460_52
    assert check(five_six, "LTV").limit == Fraction(95, 100)  # the ARM cell
    seven_six = check_eligibility(us_request(loan={"fixed_rate": False, "fixed_months": 84}))
    assert seven_six.stressed_monthly_payment_minor == 2_022_62


def test_us_two_unit_home_needs_six_months_of_reserves() -> None:
    # PITIA = 2,022.62 + 600 = 2,622.62; six months = 15,735.72.
    enough = check_eligibility(us_request(prop={"units": 2}, loan={"liquid_reserves_minor": 15_735_72}))
    assert check(enough, "RESERVES").passed and enough.outcome is Outcome.ELIGIBLE
    short = check_eligibility(us_request(prop={"units": 2}, loan={"liquid_reserves_minor": 15_735_71}))
    assert not check(short, "RESERVES").passed
    assert short.outcome is Outcome.REFER
    assert "RESERVES_SHORT" in codes(short)


@pytest.mark.parametrize(
    ("amount", "fees_pct", "passed"),
    [
        (320_000_00, "3", True),       # >= $130,461: 3% of the loan
        (320_000_00, "3.01", False),
        (100_000_00, "3.914", True),   # $78,277 - $130,461: a flat $3,914 = 3.914% of $100,000
        (100_000_00, "3.92", False),
    ],
)
def test_us_points_and_fees_cap_of_a_qualified_mortgage(amount: int, fees_pct: str, passed: bool) -> None:
    from decimal import Decimal

    result = check_eligibility(us_request(loan={"amount_minor": amount, "points_and_fees_pct": Decimal(fees_pct)}))
    assert check(result, "QUALIFIED_MORTGAGE").passed is passed
    assert result.outcome is (Outcome.ELIGIBLE if passed else Outcome.REFER)


def test_us_term_over_30_years_declines_and_is_not_a_qualified_mortgage() -> None:
    result = check_eligibility(us_request(loan={"term_months": 361}))
    assert not check(result, "TERM").passed
    assert not check(result, "QUALIFIED_MORTGAGE").passed
    assert result.outcome is Outcome.DECLINE
    assert result.max_loan_minor == 0


def test_us_interest_only_is_not_a_qualified_mortgage_and_is_referred() -> None:
    result = check_eligibility(us_request(loan={"interest_only": True}))
    assert result.outcome is Outcome.REFER
    assert "NOT_QUALIFIED_MORTGAGE" in codes(result)
    assert result.monthly_payment_minor == 1_733_33  # 320,000 x 6.5% / 12


def test_us_policy_version_in_force_on_the_date() -> None:
    assert check_eligibility(us_request(as_of=date(2023, 12, 1))).policy_version == "US-2023-11-18"
    assert check_eligibility(us_request(as_of=date(2024, 1, 1))).policy_version == "US-2024-01-01"


# ------------------------------------------------------------------------------------------ United Kingdom

def test_uk_worked_case_is_eligible_with_hand_computed_figures() -> None:
    result = check_eligibility(uk_request())
    # £200,000 at 4.50% over 25 years: £1,111.66. Stress: max(4.50%, reversion 7.49%) + 1 = 8.49%: £1,609.11.
    assert result.outcome is Outcome.ELIGIBLE
    assert result.monthly_payment_minor == 1_111_66
    assert result.stressed_monthly_payment_minor == 1_609_11
    assert check(result, "LTI").value == Fraction(4)
    assert check(result, "LTV").value == Fraction(2, 3)
    # Available for the mortgage: 3,200 - 200 - 1,200 = 1,800; share = 1,609.11 / 1,800.
    assert check(result, "STRESSED_AFFORDABILITY").value == Fraction(1_609_11, 1_800_00)
    # Limits: 95% LTV = 285,000; LTI just below 4.5x = 224,999.99; stressed affordability PV(1,800 @ 8.49%)
    # = 223,726.63 binds.
    assert result.max_loan_minor == 223_726_63
    assert result.policy_version == "UK-2024-11-04"
    assert {"ALL_CHECKS_PASSED", "STRESS_RATE"} <= codes(result)


def test_uk_lti_exactly_4_5_is_referred_under_the_flow_limit_and_a_penny_less_is_eligible() -> None:
    at_limit = check_eligibility(uk_request(applicant={"monthly_living_costs_minor": 1_000_00},
                                            loan={"amount_minor": 225_000_00}))
    assert check(at_limit, "LTI").value == Fraction(9, 2)
    assert not check(at_limit, "LTI").passed
    assert check(at_limit, "LTI_MAX").passed
    assert at_limit.outcome is Outcome.REFER
    assert "LTI_AT_OR_ABOVE_FLOW_LIMIT" in codes(at_limit)
    assert at_limit.max_loan_minor == 224_999_99
    assert at_limit.options  # a referral still shows the options

    below = check_eligibility(uk_request(applicant={"monthly_living_costs_minor": 1_000_00},
                                         loan={"amount_minor": 224_999_99}))
    assert check(below, "LTI").passed
    assert below.outcome is Outcome.ELIGIBLE


def test_uk_lti_above_the_lender_cap_declines() -> None:
    applicant = {"gross_annual_income_minor": 40_000_00, "net_monthly_income_minor": 6_000_00,
                 "monthly_debt_payments_minor": 0, "monthly_living_costs_minor": 1_000_00}
    at_cap = check_eligibility(uk_request(applicant=applicant, loan={"amount_minor": 220_000_00}))
    assert check(at_cap, "LTI_MAX").value == Fraction(11, 2) and check(at_cap, "LTI_MAX").passed
    assert at_cap.outcome is Outcome.REFER
    over = check_eligibility(uk_request(applicant=applicant, loan={"amount_minor": 220_000_01}))
    assert not check(over, "LTI_MAX").passed
    assert over.outcome is Outcome.DECLINE
    assert "LTI_ABOVE_MAX" in codes(over)


def test_uk_stressed_affordability_boundary() -> None:
    # Available = net - 200 - 1,200 must cover the stressed £1,609.11 exactly.
    exact = check_eligibility(uk_request(applicant={"net_monthly_income_minor": 3_009_11}))
    assert check(exact, "STRESSED_AFFORDABILITY").passed
    assert check(exact, "STRESSED_AFFORDABILITY").value == Fraction(1)
    assert exact.outcome is Outcome.ELIGIBLE
    short = check_eligibility(uk_request(applicant={"net_monthly_income_minor": 3_009_10}))
    assert not check(short, "STRESSED_AFFORDABILITY").passed
    assert short.outcome is Outcome.DECLINE
    assert "STRESSED_PAYMENT_UNAFFORDABLE" in codes(short)


def test_uk_income_below_commitments_declines_without_dividing_by_zero() -> None:
    result = check_eligibility(uk_request(applicant={"net_monthly_income_minor": 1_000_00}))
    assert result.outcome is Outcome.DECLINE
    assert check(result, "STRESSED_AFFORDABILITY").value == float("inf")
    assert result.max_loan_minor == 0


def test_uk_five_year_fix_is_tested_at_the_product_rate() -> None:
    result = check_eligibility(uk_request(loan={"fixed_months": 60}))
    assert result.stressed_monthly_payment_minor == 1_111_66


def test_uk_older_policy_version_uses_its_own_reversion_rate() -> None:
    result = check_eligibility(uk_request(as_of=date(2023, 1, 1)))
    # UK-2022-08-01: max(4.50%, 4.99%) + 1 = 5.99%: £200,000 over 25 years = £1,287.38.
    assert result.policy_version == "UK-2022-08-01"
    assert result.stressed_monthly_payment_minor == 1_287_38


UK_LTV_CELLS = [
    ("PRINCIPAL_RESIDENCE", "PURCHASE", Fraction(95, 100)),
    ("PRINCIPAL_RESIDENCE", "RATE_TERM_REFINANCE", Fraction(90, 100)),
    ("PRINCIPAL_RESIDENCE", "CASH_OUT_REFINANCE", Fraction(85, 100)),
    ("SECOND_HOME", "PURCHASE", Fraction(85, 100)),
    ("SECOND_HOME", "CASH_OUT_REFINANCE", Fraction(75, 100)),
]


@pytest.mark.parametrize(("occupancy", "purpose", "limit"), UK_LTV_CELLS)
def test_uk_ltv_cell_edge(occupancy: str, purpose: str, limit: Fraction) -> None:
    value = 300_000_00
    at_edge = int(limit * value)
    applicant = {"gross_annual_income_minor": 150_000_00, "net_monthly_income_minor": 9_000_00}

    def request(amount: int):
        return uk_request(applicant=applicant, prop={"occupancy": occupancy},
                          loan={"amount_minor": amount, "purpose": purpose})

    edge = check_eligibility(request(at_edge))
    assert check(edge, "LTV").passed and edge.outcome is Outcome.ELIGIBLE
    above = check_eligibility(request(at_edge + 1))
    assert not check(above, "LTV").passed and above.outcome is Outcome.DECLINE


def test_uk_buy_to_let_is_not_offered() -> None:
    result = check_eligibility(uk_request(prop={"occupancy": "INVESTMENT"}))
    assert result.outcome is Outcome.DECLINE
    assert "PRODUCT_NOT_OFFERED" in codes(result)


def test_uk_interest_only_is_referred_and_priced_as_interest() -> None:
    result = check_eligibility(uk_request(loan={"interest_only": True}))
    assert result.outcome is Outcome.REFER
    assert "INTEREST_ONLY_NEEDS_REVIEW" in codes(result)
    assert result.monthly_payment_minor == 750_00
    assert result.stressed_monthly_payment_minor == 1_609_11  # assessed on a repayment basis


def test_uk_term_cap() -> None:
    assert check(check_eligibility(uk_request(loan={"term_months": 480})), "TERM").passed
    over = check_eligibility(uk_request(loan={"term_months": 481}))
    assert over.outcome is Outcome.DECLINE and "TERM_TOO_LONG" in codes(over)


def test_uk_flexible_options_with_their_new_payments() -> None:
    result = check_eligibility(uk_request(loan={"liquid_reserves_minor": 20_000_00}))
    options = {o.code: o for o in result.options}
    assert set(options) == {"OVERPAYMENT", "PAYMENT_HOLIDAY", "TERM_EXTENSION", "INTEREST_ONLY", "RATE_SWITCH",
                            "OFFSET"}
    assert options["INTEREST_ONLY"].new_monthly_payment_minor == 750_00
    assert options["INTEREST_ONLY"].monthly_change_minor == 750_00 - 1_111_66
    assert options["TERM_EXTENSION"].new_monthly_payment_minor == 1_013_37   # 30 years instead of 25
    assert options["TERM_EXTENSION"].total_cost_change_minor > 0
    assert options["OFFSET"].new_monthly_payment_minor == 1_000_50          # interest on £180,000
    assert options["OFFSET"].total_cost_change_minor < 0
    assert options["PAYMENT_HOLIDAY"].new_monthly_payment_minor == 0
    assert options["OVERPAYMENT"].monthly_change_minor == 20_000_00 // 12   # 10% a year, spread monthly
    assert options["OVERPAYMENT"].total_cost_change_minor < 0
    assert all(o.description and o.credit_file_impact and o.title for o in result.options)


def test_uk_high_ltv_loses_the_payment_holiday_and_interest_only_options() -> None:
    result = check_eligibility(uk_request(applicant={"gross_annual_income_minor": 90_000_00,
                                                     "net_monthly_income_minor": 6_000_00},
                                          loan={"amount_minor": 270_000_00}))
    assert result.outcome is Outcome.ELIGIBLE
    offered = {o.code for o in result.options}
    assert "PAYMENT_HOLIDAY" not in offered and "INTEREST_ONLY" not in offered
    assert "TERM_EXTENSION" in offered
