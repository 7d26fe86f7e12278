"""Lending policy as versioned data: one JSON file per jurisdiction and version, picked by effective date.

Files live in `services/mortgage/policies/<JURISDICTION>-<YYYY-MM-DD>.json`. The version in force on a date
is the one with the latest `effective_from` on or before that date. Ratios are exact (`Fraction`, parsed
from decimal strings); fields ending `_pct` are percentages; amounts are minor units of `currency`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from services.platform.errors import ValidationError

JURISDICTIONS = ("US", "UK")
OCCUPANCIES = ("PRINCIPAL_RESIDENCE", "SECOND_HOME", "INVESTMENT")
PURPOSES = ("PURCHASE", "RATE_TERM_REFINANCE", "CASH_OUT_REFINANCE")
OUTCOMES = ("REFER", "DECLINE")


@dataclass(frozen=True)
class LtvRule:
    occupancy: str
    purposes: tuple[str, ...]
    min_units: int
    max_units: int
    rate_type: str  # "FIXED", "ARM" or "ANY"
    max_ltv: Fraction

    def matches(self, occupancy: str, purpose: str, units: int, is_arm: bool) -> bool:
        rate_ok = self.rate_type == "ANY" or (self.rate_type == "ARM") == is_arm
        return (self.occupancy == occupancy and purpose in self.purposes
                and self.min_units <= units <= self.max_units and rate_ok)


@dataclass(frozen=True)
class ReserveRule:
    occupancy: str
    min_units: int
    max_units: int
    months: int


@dataclass(frozen=True)
class StressRule:
    exempt_fixed_months_min: int  # a rate fixed at least this long is tested at the product rate
    base: str                     # "PRODUCT" or "MAX_PRODUCT_REVERSION"
    reversion_rate_bps: int | None
    add_bps: int
    note: str

    def rate_bps(self, product_rate_bps: int, fixed_months: int) -> int:
        """The rate the affordability test uses for a product fixed for `fixed_months`."""
        if fixed_months >= self.exempt_fixed_months_min:
            return product_rate_bps
        base = product_rate_bps
        if self.base == "MAX_PRODUCT_REVERSION" and self.reversion_rate_bps is not None:
            base = max(product_rate_bps, self.reversion_rate_bps)
        return base + self.add_bps


@dataclass(frozen=True)
class PointsAndFeesTier:
    min_loan_minor: int
    max_pct: Fraction | None
    max_amount_minor: int | None

    def limit_minor(self, loan_minor: int) -> int:
        if self.max_amount_minor is not None:
            return self.max_amount_minor
        assert self.max_pct is not None
        product = self.max_pct * loan_minor / 100
        return product.numerator // product.denominator


@dataclass(frozen=True)
class QualifiedMortgageRule:
    max_term_months: int
    interest_only_allowed: bool
    points_and_fees_tiers: tuple[PointsAndFeesTier, ...]  # highest threshold first

    def points_and_fees_limit_minor(self, loan_minor: int) -> int:
        for tier in self.points_and_fees_tiers:
            if loan_minor >= tier.min_loan_minor:
                return tier.limit_minor(loan_minor)
        return 0


@dataclass(frozen=True)
class LtiRule:
    flow_limit: Fraction  # loans at or above this multiple count towards the lender's flow limit
    max: Fraction         # the lender's hard cap


@dataclass(frozen=True)
class Underwriting:
    max_dti: Fraction | None
    min_credit_score: int | None
    credit_score_range: tuple[int, int] | None
    max_term_months: int
    max_applicants: int
    stress: StressRule
    lti: LtiRule | None
    min_residual_income_minor: int | None
    interest_only: str
    ltv_matrix: tuple[LtvRule, ...]
    reserves: tuple[ReserveRule, ...]
    qualified_mortgage: QualifiedMortgageRule | None
    outcomes: dict[str, str]

    def max_ltv(self, occupancy: str, purpose: str, units: int, is_arm: bool) -> Fraction | None:
        """The LTV limit of the matrix cell, or None when the product is not offered for that case."""
        for rule in self.ltv_matrix:
            if rule.matches(occupancy, purpose, units, is_arm):
                return rule.max_ltv
        return None

    def reserve_months(self, occupancy: str, units: int) -> int:
        for rule in self.reserves:
            if rule.occupancy == occupancy and rule.min_units <= units <= rule.max_units:
                return rule.months
        return 0

    def outcome_on_fail(self, check: str) -> str:
        return self.outcomes.get(check, "DECLINE")


@dataclass(frozen=True)
class SignalThresholds:
    salary_grace_days: int
    salary_min_history: int
    income_drop_ratio: Fraction
    overdraft_days_min: int
    overdraft_days_rise_ratio: Fraction
    returned_direct_debits_min: int
    payday_loan_mccs: frozenset[str]
    payday_loan_keywords: tuple[str, ...]
    gambling_mccs: frozenset[str]
    gambling_share_min: Fraction
    gambling_share_rise_ratio: Fraction
    lookback_days: int
    baseline_days: int
    # PAYMENT_AT_RISK projects the balance to the due date with the customer's own daily outgoings (debits
    # other than the mortgage) over this many days; needs this much history first.
    spending_window_days: int = 28
    spending_min_history_days: int = 7
    at_risk_margin_sd: float = 1.0  # standard deviations of the k-day spending the shortfall must exceed


@dataclass(frozen=True)
class CarePolicy:
    offer_window_days: int
    charter_options_without_affordability_check: bool
    signals: SignalThresholds
    advisor_queue: str
    advisor_min_signals: int
    advisor_sla_hours: int


@dataclass(frozen=True)
class Policy:
    jurisdiction: str
    version: str
    effective_from: date
    currency: str
    sources: tuple[str, ...]
    underwriting: Underwriting
    options: dict[str, dict[str, Any] | None]  # option code -> parameters; None = not offered
    care: CarePolicy

    def option(self, code: str) -> dict[str, Any] | None:
        return self.options.get(code)


def _ratio(value: Any) -> Fraction:
    return Fraction(Decimal(str(value)))


def _opt_ratio(value: Any) -> Fraction | None:
    return None if value is None else _ratio(value)


def _parse(raw: dict[str, Any]) -> Policy:
    uw = raw["underwriting"]
    stress = uw["stress"]
    qm = uw.get("qualified_mortgage")
    lti = uw.get("lti")
    for check, outcome in uw["outcomes"].items():
        if outcome not in OUTCOMES:
            raise ValueError(f"policy {raw['version']}: outcome for {check} must be one of {OUTCOMES}")
    underwriting = Underwriting(
        max_dti=_opt_ratio(uw.get("max_dti")),
        min_credit_score=uw.get("min_credit_score"),
        credit_score_range=tuple(uw["credit_score_range"]) if uw.get("credit_score_range") else None,
        max_term_months=int(uw["max_term_months"]),
        max_applicants=int(uw["max_applicants"]),
        stress=StressRule(
            exempt_fixed_months_min=int(stress["exempt_fixed_months_min"]), base=stress["base"],
            reversion_rate_bps=stress.get("reversion_rate_bps"), add_bps=int(stress["add_bps"]),
            note=stress.get("note", ""),
        ),
        lti=LtiRule(flow_limit=_ratio(lti["flow_limit"]), max=_ratio(lti["max"])) if lti else None,
        min_residual_income_minor=uw.get("min_residual_income_minor"),
        interest_only=uw["interest_only"],
        ltv_matrix=tuple(
            LtvRule(occupancy=r["occupancy"], purposes=tuple(r["purposes"]), min_units=r["units"][0],
                    max_units=r["units"][1], rate_type=r["rate_type"], max_ltv=_ratio(r["max_ltv"]))
            for r in uw["ltv_matrix"]
        ),
        reserves=tuple(
            ReserveRule(occupancy=r["occupancy"], min_units=r["units"][0], max_units=r["units"][1],
                        months=int(r["months"]))
            for r in uw.get("reserves_months", [])
        ),
        qualified_mortgage=QualifiedMortgageRule(
            max_term_months=int(qm["max_term_months"]), interest_only_allowed=bool(qm["interest_only_allowed"]),
            points_and_fees_tiers=tuple(
                PointsAndFeesTier(min_loan_minor=int(t["min_loan_minor"]), max_pct=_opt_ratio(t.get("max_pct")),
                                  max_amount_minor=t.get("max_amount_minor"))
                for t in sorted(qm["points_and_fees_tiers"], key=lambda t: -int(t["min_loan_minor"]))
            ),
        ) if qm else None,
        outcomes=dict(uw["outcomes"]),
    )
    care = raw["care"]
    sig = care["signals"]
    return Policy(
        jurisdiction=raw["jurisdiction"],
        version=raw["version"],
        effective_from=date.fromisoformat(raw["effective_from"]),
        currency=raw["currency"],
        sources=tuple(raw.get("sources", [])),
        underwriting=underwriting,
        options=dict(raw["options"]),
        care=CarePolicy(
            offer_window_days=int(care["offer_window_days"]),
            charter_options_without_affordability_check=bool(care["charter_options_without_affordability_check"]),
            signals=SignalThresholds(
                salary_grace_days=int(sig["salary_grace_days"]),
                salary_min_history=int(sig["salary_min_history"]),
                income_drop_ratio=_ratio(sig["income_drop_ratio"]),
                overdraft_days_min=int(sig["overdraft_days_min"]),
                overdraft_days_rise_ratio=_ratio(sig["overdraft_days_rise_ratio"]),
                returned_direct_debits_min=int(sig["returned_direct_debits_min"]),
                payday_loan_mccs=frozenset(sig["payday_loan_mccs"]),
                payday_loan_keywords=tuple(k.lower() for k in sig["payday_loan_keywords"]),
                gambling_mccs=frozenset(sig["gambling_mccs"]),
                gambling_share_min=_ratio(sig["gambling_share_min"]),
                gambling_share_rise_ratio=_ratio(sig["gambling_share_rise_ratio"]),
                lookback_days=int(sig["lookback_days"]),
                baseline_days=int(sig["baseline_days"]),
                spending_window_days=int(sig.get("spending_window_days", 28)),
                spending_min_history_days=int(sig.get("spending_min_history_days", 7)),
                at_risk_margin_sd=float(sig.get("at_risk_margin_sd", 1.0)),
            ),
            advisor_queue=care["advisor"]["queue"],
            advisor_min_signals=int(care["advisor"]["min_signals"]),
            advisor_sla_hours=int(care["advisor"]["sla_hours"]),
        ),
    )


@cache
def all_policies() -> dict[str, tuple[Policy, ...]]:
    """Every packaged policy version, per jurisdiction, oldest first. Read once per process."""
    found: dict[str, list[Policy]] = {j: [] for j in JURISDICTIONS}
    folder = resources.files("services.mortgage.policies")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        policy = _parse(json.loads(entry.read_text(encoding="utf-8")))
        expected_name = f"{policy.jurisdiction}-{policy.effective_from.isoformat()}.json"
        if entry.name != expected_name:
            raise ValueError(f"policy file {entry.name} should be named {expected_name}")
        found.setdefault(policy.jurisdiction, []).append(policy)
    return {j: tuple(sorted(ps, key=lambda p: p.effective_from)) for j, ps in found.items()}


def policy_in_force(jurisdiction: str, on: date, field: str = "jurisdiction") -> Policy:
    """The policy version of `jurisdiction` in force on `on`. ValidationError names the bad input."""
    versions = all_policies().get(jurisdiction.upper()) if jurisdiction else None
    if not versions:
        raise ValidationError(field, f"unknown jurisdiction {jurisdiction!r}: "
                                     f"expected one of {', '.join(JURISDICTIONS)}")
    in_force = [p for p in versions if p.effective_from <= on]
    if not in_force:
        raise ValidationError("as_of_date", f"no {jurisdiction.upper()} lending policy was in force on "
                              f"{on.isoformat()} (the earliest starts {versions[0].effective_from.isoformat()})")
    return in_force[-1]
