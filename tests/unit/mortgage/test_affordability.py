"""Affordability arithmetic against hand-computed values (closed-form figures checked with a calculator)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from services.mortgage import affordability as af
from services.platform.errors import ValidationError


@pytest.mark.parametrize(
    ("principal", "rate_bps", "months", "expected"),
    [
        (200_000_00, 450, 300, 1_111_66),   # 1111.66496
        (320_000_00, 650, 360, 2_022_62),   # 2022.6177
        (200_000_00, 849, 300, 1_609_11),   # 1609.1066
        (100_000_00, 0, 120, 833_33),       # P / n when the rate is zero: 833.333...
        (100_00, 1200, 1, 101_00),          # one month at 1% a month: principal + interest
    ],
)
def test_annuity_payment_matches_hand_computed_value(principal: int, rate_bps: int, months: int, expected: int) -> None:
    assert af.annuity_payment(principal, rate_bps, months) == expected


def test_annuity_payment_rounds_half_up_to_the_minor_unit() -> None:
    # 3 / 2 months at 0% = 1.5 minor units: half-up gives 2, never banker's 2 / 1 ambiguity.
    assert af.annuity_payment(3, 0, 2) == 2
    assert af.annuity_payment(5, 0, 2) == 3


def test_interest_only_payment_is_balance_times_monthly_rate() -> None:
    assert af.interest_only_payment(200_000_00, 450) == 750_00
    assert af.interest_only_payment(150_000_00, 450) == 562_50
    assert af.interest_only_payment(1_00, 450) == 0  # 0.375 of a penny rounds to nothing


def test_balance_after_payments() -> None:
    payment = af.annuity_payment(200_000_00, 450, 300)
    assert af.balance_after(200_000_00, 450, payment, 0) == 200_000_00
    assert af.balance_after(200_000_00, 450, payment, 12) == 195_569_44  # month-by-month: 195569.4408
    # The payment was rounded down by 0.4956p; compounded over 300 months that leaves 274p, which the
    # final payment absorbs: 0.4956 x ((1 + r)^300 - 1) / r = 273.9.
    assert af.balance_after(200_000_00, 450, payment, 300) == 274
    assert af.balance_after(200_000_00, 450, payment + 1, 300) == 0       # overpaid: reported as repaid
    assert af.balance_after(200_000_00, 450, 0, 12) > 200_000_00          # a holiday: interest accrues
    assert af.balance_after(1_200_00, 0, 100_00, 5) == 700_00


def test_term_for_payment_inverts_the_annuity() -> None:
    assert af.term_for_payment(200_000_00, 450, 1_111_66) == 300
    assert af.term_for_payment(200_000_00, 450, 1_111_65) == 301  # a penny less needs one more month
    assert af.term_for_payment(1_200_00, 0, 100_00) == 12
    assert af.term_for_payment(1_200_00, 0, 99_99) == 13
    assert af.term_for_payment(0, 450, 100) == 0


def test_term_for_payment_rejects_a_payment_that_never_repays() -> None:
    with pytest.raises(ValidationError) as err:
        af.term_for_payment(200_000_00, 450, 750_00)  # exactly the interest
    assert err.value.field == "payment_minor"


def test_max_principal_is_the_present_value_rounded_down() -> None:
    assert af.max_principal(1_800_00, 849, 300) == 223_726_63        # 223726.6313
    assert af.max_principal(3_900_00, 650, 360) == 617_022_19        # 617022.1962
    assert af.max_principal(100_00, 0, 12) == 1_200_00
    assert af.max_principal(0, 450, 300) == 0
    assert af.max_principal(-5, 450, 300) == 0
    principal = af.max_principal(1_111_66, 450, 300)
    assert af.annuity_payment(principal, 450, 300) <= 1_111_66


def test_stressed_payment_adds_the_stress_to_the_rate() -> None:
    assert af.stressed_payment(200_000_00, 449, 400, 300) == af.annuity_payment(200_000_00, 849, 300)


def test_ratios_are_exact_fractions() -> None:
    assert af.debt_to_income(3_500_00, 7_000_00) == Fraction(1, 2)
    assert af.loan_to_value(388_000_00, 400_000_00) == Fraction(97, 100)
    assert af.loan_to_income(225_000_00, 50_000_00) == Fraction(9, 2)


def test_residual_income() -> None:
    assert af.residual_income(3_200_00, 1_400_00, 1_111_66) == 688_34
    assert af.residual_income(1_000_00, 900_00, 200_00) == -100_00


def test_floor_and_strictly_below_a_ratio() -> None:
    assert af.floor_fraction(400_000_00, Fraction(97, 100)) == 388_000_00
    assert af.floor_fraction(333, Fraction(1, 2)) == 166
    assert af.below_fraction(50_000_00, Fraction(9, 2)) == 224_999_99  # exactly 4.5x is "at or above"
    assert af.below_fraction(333, Fraction(1, 2)) == 166


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: af.annuity_payment(-1, 450, 300), "principal_minor"),
        (lambda: af.annuity_payment(100, -1, 300), "rate_bps"),
        (lambda: af.annuity_payment(100, 450, 0), "term_months"),
        (lambda: af.annuity_payment(100, 450, -12), "term_months"),
        (lambda: af.annuity_payment(100, 450, 5000), "term_months"),
        (lambda: af.interest_only_payment(-1, 450), "principal_minor"),
        (lambda: af.balance_after(100, 450, -1, 1), "payment_minor"),
        (lambda: af.balance_after(100, 450, 1, -1), "payments_made"),
        (lambda: af.term_for_payment(100, 450, 0), "payment_minor"),
        (lambda: af.stressed_payment(100, 450, -100, 12), "stress_add_bps"),
        (lambda: af.debt_to_income(100, 0), "gross_monthly_income_minor"),
        (lambda: af.loan_to_value(100, 0), "property_value_minor"),
        (lambda: af.loan_to_income(100, -5), "gross_annual_income_minor"),
    ],
)
def test_impossible_arithmetic_input_names_the_argument(call, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        call()
    assert err.value.field == field
