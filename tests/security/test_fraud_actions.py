"""Least privilege on the fraud path: only feedback matching a stored alert of that card and customer freezes a
card; a freeze is lifted by its customer or an operator, and nobody else."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import grpc
import pytest

from services.fraud.repository import FraudRepository
from services.gen.proactivecare.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unfreeze_card_by_its_customer_or_an_operator_only(settings, token):
    app, handler = fraud_app(settings)
    _alert_for(handler, "U", "u1")
    with app.store.transaction() as tx:
        FraudRepository(tx).freeze_card("card-U", "U", "fa-u1", datetime.now(UTC))
    with ServiceThread(app, settings) as svc:
        def unfreeze(who: str, role: str = "customer", customer: str = "U", card: str = "card-U"):
            stub = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token(who, role)))
            try:
                return stub.UnfreezeCard(fraud_pb2.UnfreezeCardRequest(customer_id=customer, card_token=card,
                                                                       reason="customer called"), timeout=10)
            except grpc.RpcError as err:
                return err.code()

        assert unfreeze("W", customer="U") == grpc.StatusCode.PERMISSION_DENIED  # another customer
        assert unfreeze("W", customer="W", card="card-U") == grpc.StatusCode.NOT_FOUND  # not W's card
        assert unfreeze("adv-1", "advisor") == grpc.StatusCode.PERMISSION_DENIED
        assert unfreeze("card-auth", "service") == grpc.StatusCode.PERMISSION_DENIED
        assert unfreeze("U").card_frozen is False
        assert unfreeze("U") == grpc.StatusCode.NOT_FOUND  # not frozen any more
        with app.store.transaction() as tx:
            FraudRepository(tx).freeze_card("card-U", "U", "fa-u1", datetime.now(UTC))
        assert unfreeze("ops-1", "operator").card_frozen is False
