"""Least privilege on the fraud path: only feedback matching a stored alert of that card and customer freezes a
card; a freeze is lifted by its customer right after a strong authentication (step-up) or by an operator, and
nobody else."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import grpc
import pytest

from services.fraud.repository import FraudRepository
from services.gen.proactivecare.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from tests.security import attacks
from tests.security.fraud_stub import fraud_app, records, run
from tests.unit.fraud.builders import card_payment, usual_history

NOW = time.time()


def _alert_for(handler, customer: str, tx_id: str) -> None:
    run(handler, records(usual_history(customer, NOW - 60)))
    assert run(handler, records([card_payment(tx_id, customer, 16_000, "T-HOT", NOW)]))  # alert fa-<tx_id>


def _feedback(alert_id: str, customer: str, card: str) -> events_pb2.FraudFeedback:
    fb = events_pb2.FraudFeedback(alert_id=alert_id, transaction_id="v1", customer_id=customer, card_token=card,
                                  terminal_id="T-FORGED", confirmed_fraud=True)
    fb.transaction_time.FromSeconds(int(NOW))
    return fb


@pytest.mark.parametrize(("case", "alert_id", "customer", "card", "frozen"), [
    ("matching answer", "fa-v1", "V", "card-V", {"card-V"}),
    ("no such alert", "fa-nothing", "V", "card-V", set()),
    ("another customer's card named", "fa-v1", "V", "card-W", set()),
    ("another customer claims the alert", "fa-v1", "W", "card-W", set()),
    ("alert of V, card of V, customer W", "fa-v1", "W", "card-V", set()),
])
def test_forged_feedback_freezes_nothing_and_teaches_nothing(settings, case, alert_id, customer, card, frozen):
    app, handler = fraud_app(settings)
    try:
        _alert_for(handler, "V", "v1")
        run(handler, records([_feedback(alert_id, customer, card)], topic="fraud-feedback"))
        with app.store.read() as tx:
            assert FraudRepository(tx).frozen_among(["card-V", "card-W"]) == frozen, case
        learned = "T-FORGED" in handler.scorer.engine.entities["terminal"]
        assert learned == bool(frozen), case
    finally:
        app.store.close()


SCA = "urn:openbanking:psd2:sca"  # the default STEP_UP_ACR_VALUES

# who asks to lift card-U's freeze (customer U's), with which authentication claims -> the answer
UNFREEZE_TABLE: list[tuple[str, str, str, dict[str, object], str]] = [
    # case, subject, role, claims (auth_time as seconds before now), expected status
    ("customer, just authenticated strongly (acr)", "U", "customer", {"acr": SCA, "auth_time": 5}, "OK"),
    ("customer, just authenticated with mfa (amr)", "U", "customer", {"amr": ["pwd", "otp", "mfa"], "auth_time": 5},
     "OK"),
    ("operator, no step-up (audited)", "ops-1", "operator", {}, "OK"),
    ("customer, a plain session token", "U", "customer", {}, "UNAUTHENTICATED"),
    ("customer, strong but no auth_time", "U", "customer", {"acr": SCA}, "UNAUTHENTICATED"),
    ("customer, strong but 10 minutes ago", "U", "customer", {"acr": SCA, "auth_time": 600}, "UNAUTHENTICATED"),
    ("customer, a weaker acr", "U", "customer", {"acr": "urn:openbanking:psd2:ca", "auth_time": 5},
     "UNAUTHENTICATED"),
    ("customer, one factor (amr pwd)", "U", "customer", {"amr": ["pwd"], "auth_time": 5}, "UNAUTHENTICATED"),
    ("customer, acr not a string", "U", "customer", {"acr": 3, "auth_time": 5}, "UNAUTHENTICATED"),
    ("customer, auth_time not a number", "U", "customer", {"acr": SCA, "auth_time": "now"}, "UNAUTHENTICATED"),
    ("another customer, with step-up", "W", "customer", {"acr": SCA, "auth_time": 5}, "PERMISSION_DENIED"),
    ("advisor, with step-up", "adv-1", "advisor", {"acr": SCA, "auth_time": 5}, "PERMISSION_DENIED"),
    ("service", "card-auth", "service", {"acr": SCA, "auth_time": 5}, "PERMISSION_DENIED"),
]


def _signed(settings, subject: str, role: str, claims: dict[str, object]) -> str:
    """A fraud token with the given authentication claims (`auth_time` given as seconds before now; malformed
    claims are signed as they are)."""
    if isinstance(claims.get("auth_time"), int):
        claims = {**claims, "auth_time": int(time.time()) - int(claims["auth_time"])}  # type: ignore[call-overload]
    return attacks.signed(settings, subject=subject, service="fraud", role=role, **claims)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unfreeze_card_by_its_customer_with_step_up_or_an_operator_only(settings):
    app, handler = fraud_app(settings)
    _alert_for(handler, "U", "u1")

    def freeze() -> None:
        with app.store.transaction() as tx:
            FraudRepository(tx).freeze_card("card-U", "U", "fa-u1", datetime.now(UTC))

    freeze()
    with ServiceThread(app, settings) as svc:
        def unfreeze(bearer: str, customer: str = "U", card: str = "card-U") -> str:
            stub = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, bearer))
            try:
                answer = stub.UnfreezeCard(fraud_pb2.UnfreezeCardRequest(customer_id=customer, card_token=card,
                                                                         reason="customer called"), timeout=10)
            except grpc.RpcError as err:
                return str(err.code().name)
            assert answer.card_frozen is False
            freeze()  # frozen again for the next case
            return "OK"

        answers = {case: unfreeze(_signed(settings, subject, role, claims))
                   for case, subject, role, claims, _expected in UNFREEZE_TABLE}
        assert answers == {case: expected for case, *_rest, expected in UNFREEZE_TABLE}

        strong_w = _signed(settings, "W", "customer", {"acr": SCA, "auth_time": 5})
        assert unfreeze(strong_w, customer="W") == "NOT_FOUND"  # W's own request, but not W's card
        strong_u = _signed(settings, "U", "customer", {"acr": SCA, "auth_time": 5})
        assert unfreeze(strong_u) == "OK"
        with app.store.transaction() as tx:
            FraudRepository(tx).unfreeze_card("card-U", "U")
        assert unfreeze(strong_u) == "NOT_FOUND"  # not frozen any more

