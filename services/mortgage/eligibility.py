"""Eligibility for a new mortgage: eligible / refer / decline, the maximum loan, every metric against its
limit, and the flexible options the product offers, each with reasons a customer understands.

Pure: the policy in force on the request's date is the only other input.

US (Fannie Mae Desktop Underwriter + CFPB): credit score, LTV from the matrix cell (occupancy x purpose x
units x fixed/ARM), DTI on the qualifying payment (ARMs fixed five years or less at the note rate + the
first adjustment cap), reserves in months of housing payment, the term cap and the Qualified Mortgage tests
(no interest-only, term, points and fees); the Ability-to-Repay factors are named in the reasons.
UK (MCOB 11.6 + Bank of England): LTV, loan-to-income against the 4.5x flow limit (at or above = referred)
and the lender's hard cap, affordability of the payment at the stress rate out of net income after
commitments and living costs, the term cap, interest-only referred for a repayment-strategy review.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from services.mortgage import affordability as af
from services.mortgage import wording as w
from services.mortgage.model import (
    EligibilityRequest,
    EligibilityResult,
    ExistingMortgage,
    FlexOption,
    MetricCheck,
    Outcome,
    Reason,
)
from services.mortgage.options import CALCULATORS
from services.mortgage.policy import Policy, policy_in_force
from services.mortgage.validation import validate_request

_READABLE = {
    "PRINCIPAL_RESIDENCE": "a home you will live in",
    "SECOND_HOME": "a second home",
    "INVESTMENT": "an investment property",
    "PURCHASE": "a purchase",
    "RATE_TERM_REFINANCE": "a remortgage without raising money",
    "CASH_OUT_REFINANCE": "a remortgage that raises money",
}


@dataclass(frozen=True)
class _Figures:
    """Everything the checks need, computed once from the request."""

    currency: str
    gross_annual: int
    net_monthly: int
    debts: int
    living_costs: int
    tax_insurance: int
    payment: int             # the contractual payment (interest-only when asked for)
    qualifying_rate_bps: int
    qualifying_payment: int  # amortizing payment at the qualifying (stress) rate
    ltv: Fraction
    max_ltv: Fraction | None

    def money(self, amount_minor: int) -> str:
        return w.money(amount_minor, self.currency)


def check_eligibility(req: EligibilityRequest) -> EligibilityResult:
    policy = policy_in_force(req.jurisdiction, req.as_of)
    validate_request(req, policy)
    fig = _figures(req, policy)
    checks = _us_checks(req, policy, fig) if policy.jurisdiction == "US" else _uk_checks(req, policy, fig)
    failed = [c for c in checks if not c.passed]
    outcome = max((c.outcome_on_fail for c in failed), key=lambda o: o.severity, default=Outcome.ELIGIBLE)
    max_loan = _max_loan(req, policy, fig, checks)
    options = _product_options(req, policy, fig) if outcome is not Outcome.DECLINE else ()
    return EligibilityResult(
        outcome=outcome,
        currency=req.currency,
        max_loan_minor=max_loan,
        monthly_payment_minor=fig.payment,
        stressed_monthly_payment_minor=fig.qualifying_payment,
        checks=tuple(checks),
        options=options,
        reasons=tuple(_reasons(req, policy, fig, outcome, failed, max_loan)),
        policy_version=policy.version,
    )


def _figures(req: EligibilityRequest, policy: Policy) -> _Figures:
    loan, prop = req.loan, req.property
    qualifying_rate = policy.underwriting.stress.rate_bps(loan.rate_bps, loan.effective_fixed_months)
    payment = (af.interest_only_payment(loan.amount_minor, loan.rate_bps) if loan.interest_only
               else af.annuity_payment(loan.amount_minor, loan.rate_bps, loan.term_months))
    return _Figures(
        currency=req.currency,
        gross_annual=sum(a.gross_annual_income_minor for a in req.applicants),
        net_monthly=sum(a.net_monthly_income_minor for a in req.applicants),
        debts=sum(a.monthly_debt_payments_minor for a in req.applicants),
        living_costs=sum(a.monthly_living_costs_minor for a in req.applicants),
        tax_insurance=prop.monthly_tax_insurance_hoa_minor,
        payment=payment,
        qualifying_rate_bps=qualifying_rate,
        qualifying_payment=af.annuity_payment(loan.amount_minor, qualifying_rate, loan.term_months),
        ltv=af.loan_to_value(loan.amount_minor, prop.value_minor),
        max_ltv=policy.underwriting.max_ltv(prop.occupancy, loan.purpose, prop.units, loan.is_arm),
    )


# --------------------------------------------------------------------------------------------- checks

def _ltv_check(req: EligibilityRequest, policy: Policy, fig: _Figures) -> MetricCheck:
    outcome = Outcome(policy.underwriting.outcome_on_fail("LTV"))
    if fig.max_ltv is None:
        case = (f"{_READABLE[req.property.occupancy]} with {req.property.units} unit(s), "
                f"for {_READABLE[req.loan.purpose]}")
        return MetricCheck("LTV", fig.ltv, 0, False, f"This mortgage isn't available for {case}.",
                           Outcome.DECLINE, "PRODUCT_NOT_OFFERED")
    passed = fig.ltv <= fig.max_ltv
    text = (f"You would borrow {w.pct(fig.ltv)} of the property's value; the most we lend for this case is "
            f"{w.pct(fig.max_ltv)}.")
    if not passed:
        deposit = req.property.value_minor - af.floor_fraction(req.property.value_minor, fig.max_ltv)
        text += f" A deposit of at least {fig.money(deposit)} would bring it within the limit."
    return MetricCheck("LTV", fig.ltv, fig.max_ltv, passed, text, outcome, "LTV_ABOVE_LIMIT")


def _term_check(req: EligibilityRequest, policy: Policy) -> MetricCheck:
    limit = policy.underwriting.max_term_months
    passed = req.loan.term_months <= limit
    text = (f"The term of {w.months(req.loan.term_months)} is within our maximum of {w.months(limit)}." if passed
            else f"The term of {w.months(req.loan.term_months)} is longer than our maximum of {w.months(limit)}.")
    return MetricCheck("TERM", req.loan.term_months, limit, passed, text,
                       Outcome(policy.underwriting.outcome_on_fail("TERM")), "TERM_TOO_LONG")


def _credit_score_check(req: EligibilityRequest, policy: Policy) -> MetricCheck:
    minimum = policy.underwriting.min_credit_score
    assert minimum is not None
    scores = [a.credit_score for a in req.applicants]
    average = Fraction(sum(scores), len(scores))
    shown = f"{float(average):.0f}"
    who = "Your credit score" if len(scores) == 1 else "The average of your credit scores"
    passed = average >= minimum
    text = (f"{who}, {shown}, meets our minimum of {minimum}." if passed
            else f"{who}, {shown}, is below our minimum of {minimum}.")
    return MetricCheck("CREDIT_SCORE", average, minimum, passed, text,
                       Outcome(policy.underwriting.outcome_on_fail("CREDIT_SCORE")), "CREDIT_SCORE_BELOW_MIN")


def _us_checks(req: EligibilityRequest, policy: Policy, fig: _Figures) -> list[MetricCheck]:
    uw = policy.underwriting
    checks = [_credit_score_check(req, policy), _ltv_check(req, policy, fig)]

    assert uw.max_dti is not None
    obligations = fig.qualifying_payment + fig.tax_insurance + fig.debts
    dti = af.debt_to_income(obligations * 12, fig.gross_annual)
    passed = dti <= uw.max_dti
    rate_note = ("" if fig.qualifying_rate_bps == req.loan.rate_bps else
                 f" (payment tested at {w.rate(fig.qualifying_rate_bps)}, the highest rate in the first five years)")
    housing = fig.money(fig.qualifying_payment + fig.tax_insurance)
    text = (f"Your monthly debts including the new housing payment of {housing}{rate_note} "
            f"would be {w.pct(dti)} of your gross income; the limit is {w.pct(uw.max_dti)}.")
    checks.append(MetricCheck("DTI", dti, uw.max_dti, passed, text, Outcome(uw.outcome_on_fail("DTI")),
                              "DTI_ABOVE_LIMIT"))

    months = uw.reserve_months(req.property.occupancy, req.property.units)
    if months > 0:
        housing = fig.payment + fig.tax_insurance
        covered = Fraction(req.loan.liquid_reserves_minor, housing)
        passed = covered >= months
        text = (f"Your savings after closing, {fig.money(req.loan.liquid_reserves_minor)}, cover "
                f"{float(covered):.1f} months of the {fig.money(housing)} housing payment; we need {months} months.")
        checks.append(MetricCheck("RESERVES", covered, months, passed, text,
                                  Outcome(uw.outcome_on_fail("RESERVES")), "RESERVES_SHORT"))

    checks.append(_term_check(req, policy))

    qm = uw.qualified_mortgage
    if qm is not None:
        limit_minor = qm.points_and_fees_limit_minor(req.loan.amount_minor)
        limit_pct = Fraction(limit_minor * 100, req.loan.amount_minor)
        fees_pct = Fraction(req.loan.points_and_fees_pct)
        problems = []
        if req.loan.term_months > qm.max_term_months:
            problems.append(f"a term over {w.months(qm.max_term_months)}")
        if req.loan.interest_only and not qm.interest_only_allowed:
            problems.append("interest-only payments")
        if fees_pct > limit_pct:
            problems.append(f"points and fees of {w.pct(fees_pct / 100, 2)} (the cap is {w.pct(limit_pct / 100, 2)})")
        passed = not problems
        text = ("The loan meets the Qualified Mortgage rules (no interest-only or balloon, term, points and fees)."
                if passed else "The loan is not a Qualified Mortgage because of " + " and ".join(problems)
                + "; an underwriter must review your ability to repay.")
        checks.append(MetricCheck("QUALIFIED_MORTGAGE", fees_pct, limit_pct, passed, text,
                                  Outcome(uw.outcome_on_fail("QUALIFIED_MORTGAGE")), "NOT_QUALIFIED_MORTGAGE"))
    elif req.loan.interest_only:
        checks.append(_interest_only_check(policy))
    return checks


def _interest_only_check(policy: Policy) -> MetricCheck:
    return MetricCheck("INTEREST_ONLY", 1, 0, False,
                       "An interest-only mortgage needs an adviser to review how you will repay the loan at the end.",
                       Outcome(policy.underwriting.interest_only), "INTEREST_ONLY_NEEDS_REVIEW")


def _uk_checks(req: EligibilityRequest, policy: Policy, fig: _Figures) -> list[MetricCheck]:
    uw = policy.underwriting
    checks: list[MetricCheck] = []
    if uw.min_credit_score is not None:
        checks.append(_credit_score_check(req, policy))
    checks.append(_ltv_check(req, policy, fig))

    assert uw.lti is not None
    lti = af.loan_to_income(req.loan.amount_minor, fig.gross_annual)
    below_flow = lti < uw.lti.flow_limit
    text = (f"You would borrow {w.multiple(lti)} your gross annual income; loans of {w.multiple(uw.lti.flow_limit)} "
            "or more are limited by the Bank of England"
            + (" and need an underwriter's approval." if not below_flow else "."))
    checks.append(MetricCheck("LTI", lti, uw.lti.flow_limit, below_flow, text,
                              Outcome(uw.outcome_on_fail("LTI_FLOW_LIMIT")), "LTI_AT_OR_ABOVE_FLOW_LIMIT"))
    within_max = lti <= uw.lti.max
    text = (f"Borrowing {w.multiple(lti)} your income is within our maximum of {w.multiple(uw.lti.max)}." if within_max
            else f"Borrowing {w.multiple(lti)} your income is above our maximum of {w.multiple(uw.lti.max)}.")
    checks.append(MetricCheck("LTI_MAX", lti, uw.lti.max, within_max, text,
                              Outcome(uw.outcome_on_fail("LTI_MAX")), "LTI_ABOVE_MAX"))

    available = _available_for_mortgage_uk(fig, policy)
    passed = available > 0 and fig.qualifying_payment <= available
    share: Fraction | float = Fraction(fig.qualifying_payment, available) if available > 0 else float("inf")
    text = (f"If your rate rose to {w.rate(fig.qualifying_rate_bps)} the payment would be "
            f"{fig.money(fig.qualifying_payment)} a month; after your commitments and living costs you have "
            f"{fig.money(max(available, 0))} a month for it.")
    if not passed:
        text += " That is not enough, so we can't lend this amount."
    checks.append(MetricCheck("STRESSED_AFFORDABILITY", share, 1, passed, text,
                              Outcome(uw.outcome_on_fail("STRESSED_AFFORDABILITY")), "STRESSED_PAYMENT_UNAFFORDABLE"))
    checks.append(_term_check(req, policy))
    if req.loan.interest_only:
        checks.append(_interest_only_check(policy))
    return checks


def _available_for_mortgage_uk(fig: _Figures, policy: Policy) -> int:
    buffer = policy.underwriting.min_residual_income_minor or 0
    return af.residual_income(fig.net_monthly, fig.debts + fig.living_costs + buffer, 0)


# --------------------------------------------------------------------------------------------- max loan

_AMOUNT_INDEPENDENT = {"CREDIT_SCORE", "TERM", "INTEREST_ONLY"}


def _max_loan(req: EligibilityRequest, policy: Policy, fig: _Figures, checks: list[MetricCheck]) -> int:
    """The largest amount that would be ELIGIBLE with everything else as asked (0 when no amount is)."""
    uw = policy.underwriting
    for c in checks:
        if not c.passed and (c.name in _AMOUNT_INDEPENDENT or c.code == "PRODUCT_NOT_OFFERED"):
            return 0
    if (uw.qualified_mortgage is not None and req.loan.term_months > uw.qualified_mortgage.max_term_months) \
            or (req.loan.interest_only and uw.qualified_mortgage is not None):
        return 0
    assert fig.max_ltv is not None
    term, limits = req.loan.term_months, [af.floor_fraction(req.property.value_minor, fig.max_ltv)]
    if uw.max_dti is not None:
        max_obligations = af.floor_fraction(fig.gross_annual, uw.max_dti / 12)
        limits.append(af.max_principal(max_obligations - fig.debts - fig.tax_insurance, fig.qualifying_rate_bps, term))
    months = uw.reserve_months(req.property.occupancy, req.property.units)
    if months > 0:
        max_payment = req.loan.liquid_reserves_minor // months - fig.tax_insurance
        limits.append(af.max_principal(max_payment, req.loan.rate_bps, term))
    if uw.lti is not None:
        limits.append(af.below_fraction(fig.gross_annual, uw.lti.flow_limit))
    if uw.min_residual_income_minor is not None:
        limits.append(af.max_principal(_available_for_mortgage_uk(fig, policy), fig.qualifying_rate_bps, term))
    return max(0, min(limits))


# --------------------------------------------------------------------------------------------- options

def _product_options(req: EligibilityRequest, policy: Policy, fig: _Figures) -> tuple[FlexOption, ...]:
    loan = req.loan
    position = ExistingMortgage(
        id="", jurisdiction=policy.jurisdiction, currency=req.currency, balance_minor=loan.amount_minor,
        rate_bps=loan.rate_bps, remaining_term_months=loan.term_months, monthly_payment_minor=fig.payment,
        payment_day=1, property_value_minor=req.property.value_minor, interest_only=loan.interest_only,
        fixed_months_remaining=loan.effective_fixed_months, savings_minor=loan.liquid_reserves_minor,
    )
    offered: list[FlexOption] = []
    for code, calculate in CALCULATORS.items():
        params = policy.option(code)
        if params is None or not params.get("at_origination", True):
            continue
        max_ltv = params.get("max_ltv")
        if max_ltv is not None and fig.ltv > Fraction(str(max_ltv)):
            continue
        option = calculate(position, params)
        if option is None or (code == "RATE_SWITCH" and option.monthly_change_minor >= 0):
            continue
        offered.append(option)
    return tuple(offered)


# --------------------------------------------------------------------------------------------- reasons

def _reasons(req: EligibilityRequest, policy: Policy, fig: _Figures, outcome: Outcome,
             failed: list[MetricCheck], max_loan: int) -> list[Reason]:
    asked = fig.money(req.loan.amount_minor)
    if outcome is Outcome.ELIGIBLE:
        reasons = [Reason("ALL_CHECKS_PASSED",
                          f"You can borrow {asked} over {w.months(req.loan.term_months)}: every check passed. "
                          f"Your payment would be {fig.money(fig.payment)} a month.")]
    elif outcome is Outcome.REFER:
        reasons = [Reason("REFERRED_TO_UNDERWRITER",
                          f"An underwriter needs to look at your application for {asked} before we can decide.")]
    else:
        reasons = [Reason("DECLINED", f"We can't offer {asked} on these details.")]
    reasons += [Reason(c.code, c.text, 1.0) for c in failed]
    if outcome is not Outcome.ELIGIBLE and max_loan > 0:
        reasons.append(Reason("MAX_LOAN", f"On these details we could lend up to {fig.money(max_loan)}."))
    if fig.qualifying_rate_bps != req.loan.rate_bps and policy.jurisdiction == "UK":
        reasons.append(Reason("STRESS_RATE",
                              f"We checked you could still pay if the rate rose to {w.rate(fig.qualifying_rate_bps)}: "
                              f"{fig.money(fig.qualifying_payment)} a month."))
    if policy.jurisdiction == "US":
        reasons.append(Reason("ABILITY_TO_REPAY",
                              "We looked at your income, your existing debts, the new payment with taxes and "
                              "insurance, your debt-to-income ratio and your credit history. We will verify "
                              "your income and employment before making an offer."))
    return reasons
