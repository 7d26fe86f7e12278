"""Between protobuf messages and the domain types: the only module of the service that knows both.

Incoming money must share the loan's currency; a field left empty (no currency, zero amount) reads as 0.
Outgoing ratios (exact fractions inside) become doubles only here, for display.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from services.gen.proactivecare.v1 import common_pb2, events_pb2, mortgage_pb2
from services.mortgage.activity import Txn
from services.mortgage.model import (
    Applicant,
    CareOptions,
    EligibilityRequest,
    EligibilityResult,
    ExistingMortgage,
    FlexOption,
    LoanTerms,
    PropertyDetails,
    Reason,
)
from services.platform import enums
from services.platform.errors import ValidationError


def _money(m: common_pb2.Money, field: str, currency: str) -> int:
    if not m.currency:
        if m.amount_minor != 0:
            raise ValidationError(f"{field}.currency", "is required when an amount is given")
        return 0
    if m.currency != currency:
        raise ValidationError(f"{field}.currency", f"must be {currency}, the loan's currency (got {m.currency})")
    return int(m.amount_minor)


def _enum_name(enum: object, value: int, field: str) -> str:
    try:
        return enums.short_name(enum, value)
    except ValueError as exc:
        raise ValidationError(field, f"unknown value {value}") from exc


def eligibility_request(req: mortgage_pb2.CheckEligibilityRequest, today: date) -> EligibilityRequest:
    currency = req.loan.amount.currency
    if not currency:
        raise ValidationError("loan.amount.currency", "is required")
    try:
        as_of = date.fromisoformat(req.as_of_date) if req.as_of_date else today
    except ValueError as exc:
        raise ValidationError("as_of_date", f"must be an ISO date YYYY-MM-DD, got {req.as_of_date!r}") from exc
    applicants = tuple(
        Applicant(
            gross_annual_income_minor=_money(a.gross_annual_income, f"applicants[{i}].gross_annual_income", currency),
            net_monthly_income_minor=_money(a.net_monthly_income, f"applicants[{i}].net_monthly_income", currency),
            monthly_debt_payments_minor=_money(a.monthly_debt_payments, f"applicants[{i}].monthly_debt_payments",
                                               currency),
            monthly_living_costs_minor=_money(a.monthly_living_costs, f"applicants[{i}].monthly_living_costs",
                                              currency),
            credit_score=a.credit_score,
        )
        for i, a in enumerate(req.applicants)
    )
    p, loan = req.property, req.loan
    fees = Decimal(repr(loan.points_and_fees_pct)) if loan.points_and_fees_pct == loan.points_and_fees_pct \
        else Decimal("NaN")
    return EligibilityRequest(
        jurisdiction=req.jurisdiction.strip().upper(),
        currency=currency,
        applicants=applicants,
        property=PropertyDetails(
            value_minor=_money(p.value, "property.value", currency),
            units=p.units,
            occupancy=_enum_name(mortgage_pb2.Occupancy, p.occupancy, "property.occupancy"),
            monthly_tax_insurance_hoa_minor=_money(p.monthly_tax_insurance_hoa, "property.monthly_tax_insurance_hoa",
                                                   currency),
        ),
        loan=LoanTerms(
            amount_minor=loan.amount.amount_minor,
            term_months=loan.term_months,
            rate_bps=loan.rate_bps,
            purpose=_enum_name(mortgage_pb2.LoanPurpose, loan.purpose, "loan.purpose"),
            fixed_rate=loan.fixed_rate,
            fixed_months=loan.fixed_months,
            interest_only=loan.interest_only,
            liquid_reserves_minor=_money(loan.liquid_reserves, "loan.liquid_reserves", currency),
            points_and_fees_pct=fees,
        ),
        as_of=as_of,
    )


def money(amount_minor: int, currency: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency=currency)


def reasons(items: tuple[Reason, ...] | list[Reason]) -> list[common_pb2.Reason]:
    return [r.to_proto() for r in items]


def option(o: FlexOption, currency: str) -> mortgage_pb2.FlexibleOption:
    return mortgage_pb2.FlexibleOption(
        code=o.code, title=o.title,
        new_monthly_payment=money(o.new_monthly_payment_minor, currency),
        monthly_change=money(o.monthly_change_minor, currency),
        duration_months=o.duration_months, description=o.description,
        credit_file_impact=o.credit_file_impact,
        total_cost_change=money(o.total_cost_change_minor, currency),
    )


def eligibility_response(r: EligibilityResult) -> mortgage_pb2.CheckEligibilityResponse:
    return mortgage_pb2.CheckEligibilityResponse(
        outcome=enums.value_of(mortgage_pb2.EligibilityOutcome, r.outcome.value),
        max_loan=money(r.max_loan_minor, r.currency),
        monthly_payment=money(r.monthly_payment_minor, r.currency),
        stressed_monthly_payment=money(r.stressed_monthly_payment_minor, r.currency),
        checks=[mortgage_pb2.MetricCheck(name=c.name, value=float(c.value), limit=float(c.limit), passed=c.passed,
                                         text=c.text) for c in r.checks],
        options=[option(o, r.currency) for o in r.options],
        reasons=reasons(r.reasons),
        policy_version=r.policy_version,
    )


def care_response(c: CareOptions) -> mortgage_pb2.GetCareOptionsResponse:
    return mortgage_pb2.GetCareOptionsResponse(
        customer_id=c.customer_id, mortgage_id=c.mortgage_id,
        current_monthly_payment=money(c.current_monthly_payment_minor, c.currency),
        options=[option(o, c.currency) for o in c.options],
        reasons=reasons(c.reasons), policy_version=c.policy_version,
    )


def savings_minor(profile: events_pb2.CustomerProfile, currency: str) -> int:
    return sum(p.balance.amount_minor for p in profile.products
               if p.type == events_pb2.PRODUCT_TYPE_SAVINGS and p.balance.currency == currency
               and p.balance.amount_minor > 0)


def overdraft_limit_minor(profile: events_pb2.CustomerProfile) -> int:
    return max((p.overdraft_limit.amount_minor for p in profile.products
                if p.type == events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT), default=0)


def mortgages(profile: events_pb2.CustomerProfile) -> list[ExistingMortgage]:
    """The customer's mortgages as domain objects (savings count towards an offset)."""
    found = []
    for product in profile.products:
        if product.type != events_pb2.PRODUCT_TYPE_MORTGAGE or not product.HasField("mortgage"):
            continue
        m = product.mortgage
        currency = m.balance.currency or m.monthly_payment.currency
        found.append(ExistingMortgage(
            id=m.id or product.id, jurisdiction=m.jurisdiction.upper(), currency=currency,
            balance_minor=m.balance.amount_minor, rate_bps=m.rate_bps,
            remaining_term_months=m.remaining_term_months, monthly_payment_minor=m.monthly_payment.amount_minor,
            payment_day=m.payment_day, property_value_minor=m.property_value.amount_minor,
            interest_only=m.interest_only, fixed_months_remaining=m.fixed_months_remaining,
            overpaid_this_year_minor=m.overpaid_this_year.amount_minor, in_arrears=m.in_arrears,
            savings_minor=savings_minor(profile, currency),
        ))
    return found


def txn(tx: events_pb2.Transaction) -> Txn:
    balance = tx.balance_after.amount_minor if tx.HasField("balance_after") else None
    return Txn(
        id=tx.id,
        at=datetime.fromtimestamp(tx.timestamp.seconds, UTC),
        amount_minor=tx.amount.amount_minor,
        currency=tx.amount.currency,
        is_credit=tx.direction == events_pb2.DIRECTION_CREDIT,
        channel=enums.short_name(events_pb2.Channel, tx.channel) if tx.channel in events_pb2.Channel.values() else "",
        returned=tx.status == events_pb2.TRANSACTION_STATUS_RETURNED,
        mcc=tx.merchant.mcc,
        merchant_name=tx.merchant.name,
        description=tx.description,
        counterparty_id=tx.counterparty_id,
        balance_after_minor=balance,
        account_id=tx.account_id,
    )
