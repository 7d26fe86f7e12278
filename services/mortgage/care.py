"""Care options for an existing borrower: what is open today, what each does to the payment, and what it
means for the credit file. Pure: the mortgage (from the profile store) and the policy in force are inputs.

UK (Mortgage Charter, FCA PS24/2): a customer who is up to date may switch to interest-only for 6 months or
extend the term with the right to revert, without an affordability check; payment holidays need an LTV
within the product limit; overpayments within the yearly allowance; a rate switch (product transfer) can
be locked up to 6 months before the current deal ends. US (Fannie Mae servicing): forbearance with the
missed payments deferred, and a modification extending the term, are the loss-mitigation options.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from services.mortgage import affordability as af
from services.mortgage import wording as w
from services.mortgage.model import CareOptions, ExistingMortgage, FlexOption, Reason
from services.mortgage.options import CALCULATORS
from services.mortgage.policy import Policy, policy_in_force
from services.mortgage.validation import validate_mortgage

CHARTER_OPTIONS = frozenset({"INTEREST_ONLY", "TERM_EXTENSION"})
SIGNPOSTS = {
    "UK": Reason("FREE_DEBT_ADVICE", "Free, confidential debt advice is available from MoneyHelper "
                 "(moneyhelper.org.uk, 0800 138 7777)."),
    "US": Reason("HOUSING_COUNSELING", "Free help is available from a HUD-approved housing counselor "
                 "(consumerfinance.gov/find-a-housing-counselor)."),
}


def care_options(customer_id: str, mortgage: ExistingMortgage, today: date) -> CareOptions:
    """The options open to this borrower today, with the payment impact and reasons for any left out."""
    policy = policy_in_force(mortgage.jurisdiction, today, field="mortgage.jurisdiction")
    validate_mortgage(mortgage, policy)
    offered: list[FlexOption] = []
    reasons: list[Reason] = []
    for code, calculate in CALCULATORS.items():
        params = policy.option(code)
        if params is None or not params.get("for_existing_borrowers", True):
            continue
        blocked = _why_not(code, params, mortgage, policy)
        if blocked is not None:
            reasons.append(blocked)
            continue
        option = calculate(mortgage, params)
        if option is None:
            continue
        if code in CHARTER_OPTIONS and not policy.care.charter_options_without_affordability_check \
                and policy.jurisdiction == "UK":
            option = _with_note(option, " This change needs an affordability check first.")
        offered.append(option)
    if policy.care.charter_options_without_affordability_check:
        reasons.insert(0, Reason("CONTACT_DOES_NOT_AFFECT_CREDIT_FILE",
                                 "Talking to us about your payments does not affect your credit file."))
    reasons.append(SIGNPOSTS[policy.jurisdiction])
    return CareOptions(
        customer_id=customer_id,
        mortgage_id=mortgage.id,
        currency=mortgage.currency,
        current_monthly_payment_minor=mortgage.monthly_payment_minor,
        options=tuple(offered),
        reasons=tuple(reasons),
        policy_version=policy.version,
    )


def _why_not(code: str, params: dict, m: ExistingMortgage, policy: Policy) -> Reason | None:
    """A reason the option is closed to this borrower today, or None when it is open."""
    title = params["title"]
    if m.in_arrears and policy.jurisdiction == "UK" and code in (*CHARTER_OPTIONS, "PAYMENT_HOLIDAY"):
        return Reason(f"{code}_NEEDS_UP_TO_DATE",
                      f"{title} is for customers whose payments are up to date; an adviser will talk you "
                      f"through the options for your arrears.")
    if code == "INTEREST_ONLY" and m.interest_only:
        return Reason(f"{code}_ALREADY", "Your mortgage is already interest-only.")
    max_ltv = params.get("max_ltv")
    charter_exempt = code in CHARTER_OPTIONS and policy.care.charter_options_without_affordability_check
    if max_ltv is not None and not charter_exempt and m.property_value_minor > 0:
        ltv = af.loan_to_value(m.balance_minor, m.property_value_minor)
        limit = Fraction(str(max_ltv))
        if ltv > limit:
            return Reason(f"{code}_LTV_TOO_HIGH",
                          f"{title} needs your balance to be at most {w.pct(limit)} of the property's value; "
                          f"yours is {w.pct(ltv)}.")
    if code == "RATE_SWITCH":
        lock = int(params["lock_ahead_months"])
        if m.fixed_months_remaining > lock:
            return Reason(f"{code}_TOO_EARLY",
                          f"You can switch rate from {w.months(lock)} before your fixed rate ends "
                          f"({w.months(m.fixed_months_remaining)} from now).")
    return None


def _with_note(option: FlexOption, note: str) -> FlexOption:
    return FlexOption(option.code, option.title, option.new_monthly_payment_minor, option.monthly_change_minor,
                      option.duration_months, option.description + note, option.credit_file_impact,
                      option.total_cost_change_minor)
