"""Lending and care policy as versioned data in the kernel's policy book: one book per jurisdiction
(`policies/<JURISDICTION>.json`, validated on load, its JSON Schema published beside it as
`policies/policy.schema.json`).

The version in force at an instant is the latest whose `effective_from` (UTC) is not after it; before the first,
the book refuses. Ratios are exact (`Fraction`, parsed from decimal strings); fields ending `_pct` are
percentages; amounts are minor units of `currency`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema, field_validator

from services.platform.errors import ValidationError
from services.platform.policy_book import PolicyBook, PolicyNotInForceError, PolicySection, PolicyVersion

JURISDICTIONS = ("US", "UK")
OCCUPANCIES = ("PRINCIPAL_RESIDENCE", "SECOND_HOME", "INVESTMENT")
PURPOSES = ("PURCHASE", "RATE_TERM_REFINANCE", "CASH_OUT_REFINANCE")
OUTCOMES = ("REFER", "DECLINE")
POLICY_DIR = Path(__file__).with_name("policies")
POLICY_FILES = tuple(POLICY_DIR / f"{j}.json" for j in JURISDICTIONS)


def _ratio(value: Any) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a ratio is a decimal string, e.g. \"0.95\"")
    try:
        return Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a decimal number") from None


# an exact ratio: written as a decimal string in the file ("0.95"), a Fraction in code
Ratio = Annotated[Fraction, PlainValidator(_ratio),
                  PlainSerializer(lambda f: str(Decimal(f.numerator) / f.denominator)),
                  WithJsonSchema({"type": ["string", "number"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})]
Occupancy = Literal["PRINCIPAL_RESIDENCE", "SECOND_HOME", "INVESTMENT"]
Purpose = Literal["PURCHASE", "RATE_TERM_REFINANCE", "CASH_OUT_REFINANCE"]


class LtvRule(PolicySection):
    occupancy: Occupancy
    purposes: tuple[Purpose, ...]
    units: tuple[int, int] = Field(description="the range of units (first, last) the cell covers")
    rate_type: Literal["FIXED", "ARM", "ANY"]
    max_ltv: Ratio

    @property
    def min_units(self) -> int:
        return self.units[0]

    @property
    def max_units(self) -> int:
        return self.units[1]

    def matches(self, occupancy: str, purpose: str, units: int, is_arm: bool) -> bool:
        rate_ok = self.rate_type == "ANY" or (self.rate_type == "ARM") == is_arm
        return (self.occupancy == occupancy and purpose in self.purposes
                and self.min_units <= units <= self.max_units and rate_ok)


class ReserveRule(PolicySection):
    occupancy: Occupancy
    units: tuple[int, int]
    months: int = Field(ge=0)


class StressRule(PolicySection):
    exempt_fixed_months_min: int = Field(description="a rate fixed at least this long is tested at the product rate")
    base: Literal["PRODUCT", "MAX_PRODUCT_REVERSION"]
    reversion_rate_bps: int | None = None
    add_bps: int = Field(ge=0)
    note: str = ""

    def rate_bps(self, product_rate_bps: int, fixed_months: int) -> int:
        """The rate the affordability test uses for a product fixed for `fixed_months`."""
        if fixed_months >= self.exempt_fixed_months_min:
            return product_rate_bps
        base = product_rate_bps
        if self.base == "MAX_PRODUCT_REVERSION" and self.reversion_rate_bps is not None:
            base = max(product_rate_bps, self.reversion_rate_bps)
        return base + self.add_bps


class PointsAndFeesTier(PolicySection):
    min_loan_minor: int = Field(ge=0)
    max_pct: Ratio | None = None
    max_amount_minor: int | None = None

    def limit_minor(self, loan_minor: int) -> int:
        if self.max_amount_minor is not None:
            return self.max_amount_minor
        assert self.max_pct is not None
        product = self.max_pct * loan_minor / 100
        return product.numerator // product.denominator


class QualifiedMortgageRule(PolicySection):
    max_term_months: int = Field(gt=0)
    interest_only_allowed: bool
    points_and_fees_tiers: tuple[PointsAndFeesTier, ...]  # highest threshold first

    @field_validator("points_and_fees_tiers")
    @classmethod
    def _highest_first(cls, tiers: tuple[PointsAndFeesTier, ...]) -> tuple[PointsAndFeesTier, ...]:
        return tuple(sorted(tiers, key=lambda t: -t.min_loan_minor))

    def points_and_fees_limit_minor(self, loan_minor: int) -> int:
        for tier in self.points_and_fees_tiers:
            if loan_minor >= tier.min_loan_minor:
                return tier.limit_minor(loan_minor)
        return 0


class LtiRule(PolicySection):
    flow_limit: Ratio  # loans at or above this multiple count towards the lender's flow limit
    max: Ratio         # the lender's hard cap


class Underwriting(PolicySection):
    max_dti: Ratio | None
    min_credit_score: int | None
    credit_score_range: tuple[int, int] | None
    max_term_months: int = Field(gt=0)
    max_applicants: int = Field(gt=0)
    stress: StressRule
    lti: LtiRule | None
    min_residual_income_minor: int | None
    interest_only: str
    ltv_matrix: tuple[LtvRule, ...]
    reserves_months: tuple[ReserveRule, ...] = ()
    qualified_mortgage: QualifiedMortgageRule | None
    outcomes: dict[str, Literal["REFER", "DECLINE"]]

    def max_ltv(self, occupancy: str, purpose: str, units: int, is_arm: bool) -> Fraction | None:
        """The LTV limit of the matrix cell, or None when the product is not offered for that case."""
        for rule in self.ltv_matrix:
            if rule.matches(occupancy, purpose, units, is_arm):
                return rule.max_ltv
        return None

    def reserve_months(self, occupancy: str, units: int) -> int:
        for rule in self.reserves_months:
            if rule.occupancy == occupancy and rule.units[0] <= units <= rule.units[1]:
                return rule.months
        return 0

    def outcome_on_fail(self, check: str) -> str:
        return self.outcomes.get(check, "DECLINE")


class SignalThresholds(PolicySection):
    salary_grace_days: int = Field(ge=0)
    salary_min_history: int = Field(ge=0)
    income_drop_ratio: Ratio
    overdraft_days_min: int = Field(ge=0)
    overdraft_days_rise_ratio: Ratio
    returned_direct_debits_min: int = Field(ge=0)
    payday_loan_mccs: frozenset[str]
    payday_loan_keywords: tuple[str, ...]
    gambling_mccs: frozenset[str]
    gambling_share_min: Ratio
    gambling_share_rise_ratio: Ratio
    lookback_days: int = Field(gt=0)
    baseline_days: int = Field(gt=0)
    # PAYMENT_AT_RISK projects the balance to the due date with the customer's own daily outgoings (debits
    # other than the mortgage) over this many days; needs this much history first.
    spending_window_days: int = Field(28, gt=0)
    spending_min_history_days: int = Field(7, ge=0)
    at_risk_min_chance: float = Field(0.5, gt=0.0, le=1.0, description="PAYMENT_AT_RISK: the share of the customer's "
                                      "own k-day outgoings that would leave the payment short")
    irregular_income_window_days: int = Field(84, gt=0, description="PAYMENT_AT_RISK: irregular income (gig payouts) "
                                              "counts at its rate over this many days")

    @field_validator("payday_loan_keywords")
    @classmethod
    def _lower(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k.lower() for k in keywords)


class AdvisorRouting(PolicySection):
    queue: str
    min_signals: int = Field(gt=0, description="a case with this many signals goes to an advisor")
    sla_hours: int = Field(gt=0)


class CarePolicy(PolicySection):
    offer_window_days: int = Field(ge=0)
    declined_option_window_days: int = Field(ge=0, description="an option the customer declined with an advisor "
                                                               "is not offered again for this many days")
    charter_options_without_affordability_check: bool
    signals: SignalThresholds
    advisor: AdvisorRouting

    @property
    def advisor_queue(self) -> str:
        return self.advisor.queue

    @property
    def advisor_min_signals(self) -> int:
        return self.advisor.min_signals

    @property
    def advisor_sla_hours(self) -> int:
        return self.advisor.sla_hours


class Policy(PolicyVersion):
    jurisdiction: Literal["US", "UK"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    sources: tuple[str, ...] = ()
    underwriting: Underwriting
    options: dict[str, dict[str, Any] | None]  # option code -> parameters; None = not offered
    care: CarePolicy

    def option(self, code: str) -> dict[str, Any] | None:
        return self.options.get(code)


@cache
def policy_books() -> dict[str, PolicyBook[Policy]]:
    """Every jurisdiction's book, read once per process; a version filed in the wrong book is refused."""
    books = {j: PolicyBook.load(POLICY_DIR / f"{j}.json", Policy) for j in JURISDICTIONS}
    for jurisdiction, book in books.items():
        stray = [v.version for v in book.versions if v.jurisdiction != jurisdiction]
        if stray:
            raise ValueError(f"{book.source}: versions of another jurisdiction: {stray}")
    return books


def all_policies() -> dict[str, tuple[Policy, ...]]:
    """Every version, per jurisdiction, oldest first."""
    return {j: book.versions for j, book in policy_books().items()}


def policy_in_force(jurisdiction: str, on: date, field: str = "jurisdiction") -> Policy:
    """The policy version of `jurisdiction` in force on `on` (from the start of that day, UTC). ValidationError
    names the bad input."""
    book = policy_books().get(jurisdiction.upper()) if jurisdiction else None
    if book is None:
        raise ValidationError(field, f"unknown jurisdiction {jurisdiction!r}: "
                                     f"expected one of {', '.join(JURISDICTIONS)}")
    try:
        return book.at(datetime.combine(on, time(), UTC))
    except PolicyNotInForceError:
        raise ValidationError("as_of_date", f"no {jurisdiction.upper()} lending policy was in force on "
                              f"{on.isoformat()} (the earliest starts "
                              f"{book.versions[0].effective_from.date().isoformat()})") from None
