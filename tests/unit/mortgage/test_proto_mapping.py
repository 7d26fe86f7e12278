"""The gRPC request as the domain sees it, and the request-level mistakes named by field."""

from __future__ import annotations

from datetime import date

import pytest

from services.gen.proactivecare.v1 import common_pb2, mortgage_pb2
from services.mortgage import proto_mapping as pm
from services.mortgage.eligibility import check_eligibility
from services.platform.errors import ValidationError

TODAY = date(2025, 6, 2)


def gbp(minor: int, currency: str = "GBP") -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency=currency)


def request() -> mortgage_pb2.CheckEligibilityRequest:
    return mortgage_pb2.CheckEligibilityRequest(
        jurisdiction="uk",
        applicants=[mortgage_pb2.Applicant(gross_annual_income=gbp(50_000_00), net_monthly_income=gbp(3_200_00),
                                           monthly_debt_payments=gbp(200_00), monthly_living_costs=gbp(1_200_00))],
        property=mortgage_pb2.Property(value=gbp(300_000_00), units=1,
                                       occupancy=mortgage_pb2.OCCUPANCY_PRINCIPAL_RESIDENCE),
        loan=mortgage_pb2.LoanRequest(amount=gbp(200_000_00), term_months=300, rate_bps=450, fixed_rate=True,
                                      fixed_months=24, purpose=mortgage_pb2.LOAN_PURPOSE_PURCHASE,
                                      points_and_fees_pct=1.5))


def test_a_well_formed_request_maps_and_answers() -> None:
    req = pm.eligibility_request(request(), TODAY)
    assert req.jurisdiction == "UK" and req.currency == "GBP" and req.as_of == TODAY
    assert req.property.occupancy == "PRINCIPAL_RESIDENCE" and req.loan.purpose == "PURCHASE"
    assert str(req.loan.points_and_fees_pct) == "1.5"
    answer = pm.eligibility_response(check_eligibility(req))
    assert answer.outcome == mortgage_pb2.ELIGIBILITY_OUTCOME_ELIGIBLE
    assert answer.monthly_payment == gbp(1_111_66)
    assert {c.name for c in answer.checks} >= {"LTV", "LTI", "STRESSED_AFFORDABILITY"}
    assert all(o.new_monthly_payment.currency == "GBP" for o in answer.options)


def _with(mutate) -> mortgage_pb2.CheckEligibilityRequest:
    r = request()
    mutate(r)
    return r


BAD = [
    ("loan currency missing", _with(lambda r: r.loan.amount.ClearField("currency")), "loan.amount.currency"),
    ("property in another currency", _with(lambda r: r.property.value.CopyFrom(gbp(300_000_00, "USD"))),
     "property.value.currency"),
    ("an amount without a currency", _with(lambda r: r.applicants[0].monthly_debt_payments.ClearField("currency")),
     "applicants[0].monthly_debt_payments.currency"),
    ("a malformed date", _with(lambda r: setattr(r, "as_of_date", "02/06/2025")), "as_of_date"),
    ("an unknown occupancy number", _with(lambda r: setattr(r.property, "occupancy", 9)), "property.occupancy"),
    ("occupancy not given", _with(lambda r: setattr(r.property, "occupancy", 0)), "property.occupancy"),
    ("infinite fees", _with(lambda r: setattr(r.loan, "points_and_fees_pct", float("inf"))),
     "loan.points_and_fees_pct"),
    ("NaN fees", _with(lambda r: setattr(r.loan, "points_and_fees_pct", float("nan"))), "loan.points_and_fees_pct"),
]


@pytest.mark.parametrize(("case", "bad", "field"), BAD, ids=[b[0] for b in BAD])
def test_request_level_mistakes_name_the_field(case: str, bad, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        check_eligibility(pm.eligibility_request(bad, TODAY))
    assert err.value.field == field, case
