"""Domain types of the mortgage service: plain frozen dataclasses, no protobuf, no I/O.

Amounts are integer minor units of the request's single currency; rates are basis points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from services.platform.reasons import Reason


class Outcome(StrEnum):
    ELIGIBLE = "ELIGIBLE"
    REFER = "REFER"
    DECLINE = "DECLINE"

    @property
    def severity(self) -> int:
        return {"ELIGIBLE": 0, "REFER": 1, "DECLINE": 2}[self.value]




@dataclass(frozen=True)
class Applicant:
    gross_annual_income_minor: int
    net_monthly_income_minor: int = 0
    monthly_debt_payments_minor: int = 0
    monthly_living_costs_minor: int = 0
    credit_score: int = 0  # 0 = not supplied


@dataclass(frozen=True)
class PropertyDetails:
    value_minor: int
    units: int = 1
    occupancy: str = "PRINCIPAL_RESIDENCE"
    monthly_tax_insurance_hoa_minor: int = 0


@dataclass(frozen=True)
class LoanTerms:
    amount_minor: int
    term_months: int
    rate_bps: int
    purpose: str = "PURCHASE"
    fixed_rate: bool = True
    fixed_months: int = 0  # with fixed_rate and 0: fixed for the whole term
    interest_only: bool = False
    liquid_reserves_minor: int = 0
    points_and_fees_pct: Decimal = Decimal(0)

    @property
    def effective_fixed_months(self) -> int:
        """How long the rate is fixed: the whole term for a fixed-rate loan with no period given."""
        if self.fixed_rate and self.fixed_months == 0:
            return self.term_months
        return self.fixed_months

    @property
    def is_arm(self) -> bool:
        return self.effective_fixed_months < self.term_months


@dataclass(frozen=True)
class EligibilityRequest:
    jurisdiction: str
    currency: str
    applicants: tuple[Applicant, ...]
    property: PropertyDetails
    loan: LoanTerms
    as_of: date


@dataclass(frozen=True)
class MetricCheck:
    name: str
    value: Fraction | int | float
    limit: Fraction | int | float
    passed: bool
    text: str
    outcome_on_fail: Outcome = Outcome.DECLINE
    code: str = ""  # the reason code when it fails


@dataclass(frozen=True)
class FlexOption:
    code: str
    title: str
    new_monthly_payment_minor: int
    monthly_change_minor: int       # new - current (negative = cheaper)
    duration_months: int
    description: str
    credit_file_impact: str
    total_cost_change_minor: int    # extra interest over the loan's life (negative = saving)


@dataclass(frozen=True)
class EligibilityResult:
    outcome: Outcome
    currency: str
    max_loan_minor: int
    monthly_payment_minor: int
    stressed_monthly_payment_minor: int
    checks: tuple[MetricCheck, ...]
    options: tuple[FlexOption, ...]
    reasons: tuple[Reason, ...]
    policy_version: str


@dataclass(frozen=True)
class ExistingMortgage:
    """An existing borrower's mortgage as the profile store knows it (from the `customers` topic)."""

    id: str
    jurisdiction: str
    currency: str
    balance_minor: int
    rate_bps: int
    remaining_term_months: int
    monthly_payment_minor: int
    payment_day: int
    property_value_minor: int = 0
    interest_only: bool = False
    fixed_months_remaining: int = 0
    overpaid_this_year_minor: int = 0
    in_arrears: bool = False
    savings_minor: int = 0


@dataclass(frozen=True)
class CareOptions:
    customer_id: str
    mortgage_id: str
    currency: str
    current_monthly_payment_minor: int
    options: tuple[FlexOption, ...]
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    policy_version: str = ""
