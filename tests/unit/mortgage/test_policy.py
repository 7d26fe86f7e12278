"""Policy data: the version in force on a date, and the numbers each file must carry."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from services.mortgage.policy import all_policies, policy_in_force
from services.platform.errors import ValidationError


@pytest.mark.parametrize(
    ("jurisdiction", "on", "version"),
    [
        ("UK", date(2022, 8, 1), "UK-2022-08-01"),       # the effective date itself
        ("UK", date(2024, 11, 3), "UK-2022-08-01"),      # the day before the next version
        ("UK", date(2024, 11, 4), "UK-2024-11-04"),
        ("uk", date(2030, 1, 1), "UK-2024-11-04"),       # case-insensitive; the latest stays in force
        ("US", date(2023, 11, 18), "US-2023-11-18"),
        ("US", date(2024, 1, 1), "US-2024-01-01"),
    ],
)
def test_the_version_in_force_is_the_latest_effective_on_or_before_the_date(jurisdiction: str, on: date,
                                                                              version: str) -> None:
    assert policy_in_force(jurisdiction, on).version == version


def test_no_version_before_the_first_effective_date() -> None:
    with pytest.raises(ValidationError) as err:
        policy_in_force("US", date(2023, 11, 17))
    assert err.value.field == "as_of_date"


def test_unknown_jurisdiction() -> None:
    with pytest.raises(ValidationError) as err:
        policy_in_force("DE", date(2025, 1, 1))
    assert err.value.field == "jurisdiction"


def test_every_file_carries_its_jurisdictions_limits() -> None:
    policies = all_policies()
    for us in policies["US"]:
        assert us.currency == "USD"
        assert us.underwriting.max_dti == Fraction(1, 2)
        assert us.underwriting.min_credit_score == 620
        assert us.underwriting.qualified_mortgage is not None
        assert us.underwriting.qualified_mortgage.max_term_months == 360
    for uk in policies["UK"]:
        assert uk.currency == "GBP"
        assert uk.underwriting.lti is not None and uk.underwriting.lti.flow_limit == Fraction(9, 2)
        assert uk.underwriting.stress.add_bps >= 100  # MCOB: reversion + at least 1 point
    assert policies["UK"][-1].care.charter_options_without_affordability_check
    assert not policies["UK"][0].care.charter_options_without_affordability_check  # before the June 2023 Charter
