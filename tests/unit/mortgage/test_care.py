"""Care options open to an existing borrower today, with hand-computed payments."""

from __future__ import annotations

from datetime import date

import pytest

from services.mortgage.care import care_options
from services.platform.errors import ValidationError
from tests.unit.mortgage.builders import uk_mortgage, us_mortgage

TODAY = date(2025, 6, 2)


def by_code(result):
    return {o.code: o for o in result.options}


def test_uk_borrower_up_to_date_gets_every_charter_option_with_its_payment() -> None:
    result = care_options("C1", uk_mortgage(), TODAY)
    options = by_code(result)
    assert set(options) == {"OVERPAYMENT", "PAYMENT_HOLIDAY", "TERM_EXTENSION", "INTEREST_ONLY", "RATE_SWITCH"}
    # £150,000 at 4.50%: interest is £562.50 a month.
    assert options["INTEREST_ONLY"].new_monthly_payment_minor == 562_50
    assert options["INTEREST_ONLY"].monthly_change_minor == 562_50 - 948_97
    assert options["INTEREST_ONLY"].duration_months == 6
    assert "does not affect your credit file" in options["INTEREST_ONLY"].credit_file_impact
    # 20 years + 5 = 25 years: £833.75.
    assert options["TERM_EXTENSION"].new_monthly_payment_minor == 833_75
    assert "within 6 months" in options["TERM_EXTENSION"].description
    assert options["TERM_EXTENSION"].total_cost_change_minor == 833_75 * 300 - 948_97 * 240
    # 10% of £150,000 a year = £1,250 a month more for a year.
    assert options["OVERPAYMENT"].monthly_change_minor == 1_250_00
    assert options["PAYMENT_HOLIDAY"].new_monthly_payment_minor == 0
    assert options["PAYMENT_HOLIDAY"].total_cost_change_minor > 0  # interest accrues
    assert result.current_monthly_payment_minor == 948_97
    assert result.policy_version == "UK-2024-11-04"
    codes = [r.code for r in result.reasons]
    assert codes[0] == "CONTACT_DOES_NOT_AFFECT_CREDIT_FILE" and "FREE_DEBT_ADVICE" in codes


def test_overpayment_allowance_left_this_year() -> None:
    options = by_code(care_options("C1", uk_mortgage(overpaid_this_year_minor=12_000_00), TODAY))
    assert options["OVERPAYMENT"].monthly_change_minor == 3_000_00 // 12
    assert "OVERPAYMENT" not in by_code(care_options("C1", uk_mortgage(overpaid_this_year_minor=15_000_00), TODAY))


def test_uk_borrower_in_arrears_is_not_offered_charter_options_and_is_told_why() -> None:
    result = care_options("C1", uk_mortgage(in_arrears=True), TODAY)
    assert set(by_code(result)) == {"OVERPAYMENT", "RATE_SWITCH"}
    codes = {r.code for r in result.reasons}
    assert {"INTEREST_ONLY_NEEDS_UP_TO_DATE", "TERM_EXTENSION_NEEDS_UP_TO_DATE",
            "PAYMENT_HOLIDAY_NEEDS_UP_TO_DATE"} <= codes


def test_payment_holiday_needs_ltv_within_80_percent_but_charter_options_do_not() -> None:
    result = care_options("C1", uk_mortgage(property_value_minor=176_000_00), TODAY)  # LTV 85.2%
    options = by_code(result)
    assert "PAYMENT_HOLIDAY" not in options
    assert "INTEREST_ONLY" in options  # Charter: no affordability or LTV test
    why = next(r for r in result.reasons if r.code == "PAYMENT_HOLIDAY_LTV_TOO_HIGH")
    assert why.text == "Payment holiday needs your balance to be at most 80% of the property's value; yours is 85.2%."


def test_rate_switch_opens_six_months_before_the_fix_ends() -> None:
    assert "RATE_SWITCH" in by_code(care_options("C1", uk_mortgage(fixed_months_remaining=6), TODAY))
    result = care_options("C1", uk_mortgage(fixed_months_remaining=7), TODAY)
    assert "RATE_SWITCH" not in by_code(result)
    assert "RATE_SWITCH_TOO_EARLY" in {r.code for r in result.reasons}


def test_before_the_charter_term_extension_needs_an_affordability_check() -> None:
    options = by_code(care_options("C1", uk_mortgage(), date(2023, 1, 10)))
    assert "affordability check" in options["TERM_EXTENSION"].description
    assert "credit file" in options["INTEREST_ONLY"].credit_file_impact


def test_us_borrower_gets_forbearance_with_deferral_and_a_modification() -> None:
    result = care_options("C9", us_mortgage(), TODAY)
    options = by_code(result)
    assert set(options) == {"OVERPAYMENT", "PAYMENT_HOLIDAY", "TERM_EXTENSION"}
    # Deferral: the skipped payments are due at payoff without interest, so the total cost does not change.
    assert options["PAYMENT_HOLIDAY"].total_cost_change_minor == 0
    assert "$4,832.25" in options["PAYMENT_HOLIDAY"].description  # 3 x $1,610.75
    # Modification to 480 months: $250,000 at 6.00% = $1,375.53.
    assert options["TERM_EXTENSION"].new_monthly_payment_minor == 1_375_53
    assert "HOUSING_COUNSELING" in {r.code for r in result.reasons}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"jurisdiction": "FR"}, "mortgage.jurisdiction"),
        ({"currency": "USD"}, "mortgage.balance.currency"),
        ({"balance_minor": -1}, "mortgage.balance"),
        ({"remaining_term_months": 0}, "mortgage.remaining_term_months"),
        ({"payment_day": 0}, "mortgage.payment_day"),
        ({"payment_day": 32}, "mortgage.payment_day"),
        ({"rate_bps": -5}, "mortgage.rate_bps"),
        ({"fixed_months_remaining": -1}, "mortgage.fixed_months_remaining"),
    ],
)
def test_an_impossible_mortgage_record_names_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        care_options("C1", uk_mortgage(**overrides), TODAY)
    assert err.value.field == field
