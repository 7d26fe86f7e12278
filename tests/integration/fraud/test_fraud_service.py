"""The fraud service over a real broker and real gRPC: suspicious payments on `transactions` become one alert
notification each; the customer's answer freezes the card and raises the terminal's risk for the next score;
bad requests are refused naming the field; a customer reaches only its own alerts."""

from __future__ import annotations

import math
import time
from pathlib import Path

import grpc
import pytest

from services.fraud.app import SERVICE
from services.fraud.repository import FraudRepository
from services.gen.proactivecare.v1 import common_pb2, events_pb2, fraud_pb2, fraud_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.settings import Settings
from services.platform.topics import FRAUD_FEEDBACK, NOTIFICATIONS, TRANSACTIONS
from tests.integration.conftest import read_topic, wait_for
from tests.stores import rows
from tests.unit.fraud.builders import card_payment, usual_history

SCORER = ("card-auth", "service", (), ("fraud:ScoreTransaction",))  # the card authorizer: may only score


def _alert_ids(svc: ServiceThread) -> set[str]:
    return {r[0] for r in rows(svc.app.store, "SELECT id FROM fraud_alerts")}


def test_burst_of_scenario_1_and_3_frauds_notifies_each_once_within_seconds(
        settings: Settings, produce, fraud_model_dir: Path) -> None:
    now = time.time()
    customers = [f"F{i}" for i in range(6)]
    with ServiceThread(SERVICE.build(settings, model_dir=fraud_model_dir), settings) as svc:
        served = {s.labels["serving"]: s.value for m in svc.app.registry.collect() for s in m.samples
                  if m.name == "proactivecare_fraud_model_info"}
        assert served == {"compiled": 1.0}  # the model's trees passed the check against scikit-learn
        for c in customers:
            for tx in usual_history(c, now - 60):
                produce(TRANSACTIONS, c, tx.SerializeToString())
        burst = []
        for i, c in enumerate(customers):
            burst.append(card_payment(f"{c}-ok", c, 3100, f"T-{c}-0", now + i))  # usual: no alert
            amount = 95_000 if i < 3 else 16_000  # scenario 1: over 220; scenario 3: five times the usual amount
            burst.append(card_payment(f"{c}-fraud", c, amount, f"T-{c}-1", now + 10 + i))
        for tx in burst:
            produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
        records = read_topic(settings, NOTIFICATIONS, expect=len(customers), timeout=60)

    notes = [events_pb2.Notification.FromString(r.value) for r in records]
    assert sorted(n.data["transaction_id"] for n in notes) == sorted(f"{c}-fraud" for c in customers)
    assert len({n.id for n in notes}) == len(notes)  # each once
    for record, note in zip(records, notes, strict=True):
        assert note.kind == events_pb2.NOTIFICATION_KIND_FRAUD_ALERT and note.source == "fraud"
        assert [a.label for a in note.actions] == ["Yes, it was me", "No, freeze my card"]
        assert note.reasons and "your usual amount" in note.body
        assert record.timestamp - note.origin_produced_at_ms < 5_000  # time to notify, per alert


def test_confirmed_fraud_freezes_the_card_and_raises_the_terminal_risk_the_next_score_sees(
        settings: Settings, produce, token, fraud_model_dir: Path) -> None:
    now = time.time()
    with ServiceThread(SERVICE.build(settings, model_dir=fraud_model_dir), settings) as svc:
        victims = ["V1", "V2"]
        for c in victims:
            for tx in usual_history(c, now - 120):
                produce(TRANSACTIONS, c, tx.SerializeToString())
            # a shop both victims use; then five times the usual amount there (the book's scenario 3)
            produce(TRANSACTIONS, c, card_payment(f"{c}-s", c, 3100, "T-SHARED", now - 100).SerializeToString())
            produce(TRANSACTIONS, c, card_payment(f"{c}-x", c, 15_500, "T-SHARED", now - 60).SerializeToString())
        assert wait_for(lambda: _alert_ids(svc) >= {"fa-V1-x", "fa-V2-x"}, timeout=60)

        scorer = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token(*SCORER)))

        def probe(tx_id: str, at: float) -> fraud_pb2.ScoreTransactionResponse:
            tx = card_payment(tx_id, f"P-{tx_id}", 3000, "T-SHARED", at)
            return scorer.ScoreTransaction(fraud_pb2.ScoreTransactionRequest(transaction=tx), timeout=10)

        before = probe("p1", now)
        for c in victims:
            app_stub = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token(c)))
            alert = app_stub.ResolveAlert(fraud_pb2.ResolveAlertRequest(alert_id=f"fa-{c}-x", confirmed_fraud=True),
                                          timeout=10).alert
            assert alert.status == fraud_pb2.ALERT_STATUS_CONFIRMED_FRAUD and alert.card_frozen
        after = probe("p2", now + 1)

        assert after.score > before.score
        assert before.decision == fraud_pb2.DECISION_ALLOW
        assert after.decision == fraud_pb2.DECISION_CHALLENGE
        assert "TERMINAL_FRAUD_CONFIRMED" in [r.code for r in after.reasons]
        frozen = scorer.ScoreTransaction(fraud_pb2.ScoreTransactionRequest(
            transaction=card_payment("V1-next", "V1", 3000, "T-V1-0", now + 2)), timeout=10)
        assert frozen.decision == fraud_pb2.DECISION_BLOCK and frozen.reasons[0].code == "CARD_FROZEN"

        feedback = [events_pb2.FraudFeedback.FromString(r.value)
                    for r in read_topic(settings, FRAUD_FEEDBACK, expect=2, timeout=30)]
        assert sorted((f.alert_id, f.confirmed_fraud, f.terminal_id) for f in feedback) == [
            ("fa-V1-x", True, "T-SHARED"), ("fa-V2-x", True, "T-SHARED")]


def _bad(**overrides: object) -> fraud_pb2.ScoreTransactionRequest:
    return fraud_pb2.ScoreTransactionRequest(transaction=card_payment("bad-1", "B1", 1000, "T1", **overrides))


INVALID = [
    (fraud_pb2.ScoreTransactionRequest(), "transaction"),
    (_bad(id=""), "transaction.id"),
    (_bad(customer_id=""), "transaction.customer_id"),
    (_bad(amount=common_pb2.Money(amount_minor=100, currency="XXX")), "transaction.amount.currency"),
    (_bad(amount=common_pb2.Money(amount_minor=-5, currency="EUR")), "transaction.amount.amount_minor"),
    (_bad(direction=events_pb2.DIRECTION_CREDIT), "transaction.direction"),
    (_bad(channel=events_pb2.CHANNEL_SALARY), "transaction.channel"),
    (_bad(terminal_id="", merchant=events_pb2.Merchant()), "transaction.terminal_id"),
    (_bad(card_token="4111111111111111"), "transaction.card_token"),
    (_bad(merchant=events_pb2.Merchant(id="m", mcc="54A1")), "transaction.merchant.mcc"),
    (_bad(location=events_pb2.Location(x_km=math.inf, y_km=1.0)), "transaction.location.x_km"),
]


def test_invalid_score_requests_are_refused_naming_the_field(settings: Settings, token, fraud_model_dir: Path,
                                                             ) -> None:
    with ServiceThread(SERVICE.build(settings, model_dir=fraud_model_dir), settings) as svc:
        stub = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token(*SCORER)))
        for request, field in INVALID:
            with pytest.raises(grpc.RpcError) as err:
                stub.ScoreTransaction(request, timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
            assert (err.value.details() or "").startswith(f"{field}:"), (field, err.value.details())
        timestamp_missing = _bad()
        timestamp_missing.transaction.ClearField("timestamp")
        with pytest.raises(grpc.RpcError) as err:
            stub.ScoreTransaction(timestamp_missing, timeout=10)
        assert (err.value.details() or "").startswith("transaction.timestamp:")


def test_a_customer_reaches_only_its_own_alerts(settings: Settings, produce, token, fraud_model_dir: Path) -> None:
    now = time.time()
    with ServiceThread(SERVICE.build(settings, model_dir=fraud_model_dir), settings) as svc:
        for tx in usual_history("OWN", now - 60):
            produce(TRANSACTIONS, "OWN", tx.SerializeToString())
        produce(TRANSACTIONS, "OWN", card_payment("OWN-x", "OWN", 99_000, "T-OWN-0", now).SerializeToString())
        assert wait_for(lambda: "fa-OWN-x" in _alert_ids(svc), timeout=60)

        other = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token("OTHER")))
        for call, request, code in [  # another's alert is answered as a missing one: ids cannot be probed
            (other.ResolveAlert, fraud_pb2.ResolveAlertRequest(alert_id="fa-OWN-x", confirmed_fraud=True),
             grpc.StatusCode.NOT_FOUND),
            (other.GetAlert, fraud_pb2.GetAlertRequest(alert_id="fa-OWN-x"), grpc.StatusCode.NOT_FOUND),
            (other.ListAlerts, fraud_pb2.ListAlertsRequest(customer_id="OWN"), grpc.StatusCode.PERMISSION_DENIED),
        ]:
            with pytest.raises(grpc.RpcError) as err:
                call(request, timeout=10)
            assert err.value.code() == code

        own = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token("OWN")))
        listed = own.ListAlerts(fraud_pb2.ListAlertsRequest(customer_id="OWN", open_only=True), timeout=10)
        assert [a.id for a in listed.alerts] == ["fa-OWN-x"]
        assert listed.alerts[0].status == fraud_pb2.ALERT_STATUS_OPEN  # the other customer's attempt changed nothing
        answered = own.ResolveAlert(fraud_pb2.ResolveAlertRequest(alert_id="fa-OWN-x"), timeout=10).alert
        assert answered.status == fraud_pb2.ALERT_STATUS_CONFIRMED_GENUINE and not answered.card_frozen
        with pytest.raises(grpc.RpcError) as err:
            own.GetAlert(fraud_pb2.GetAlertRequest(alert_id="fa-nope"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def _stored_customer(svc: ServiceThread, customer: str) -> dict:
    with svc.app.store.read() as tx:
        states = {(kind, key): state for kind, key, state in FraudRepository(tx).load_feature_state()}
    return states.get(("customer", customer), {"ids": []})


def test_a_payment_scored_at_authorization_retried_and_then_streamed_counts_once(
        settings: Settings, produce, token, fraud_model_dir: Path) -> None:
    now = time.time()
    history = usual_history("DUP", now - 60)
    payment = card_payment("DUP-pay", "DUP", 3200, "T-DUP-0", now)
    marker = card_payment("DUP-next", "DUP", 3100, "T-DUP-1", now + 5)
    request = fraud_pb2.ScoreTransactionRequest(transaction=payment)
    with ServiceThread(SERVICE.build(settings, model_dir=fraud_model_dir), settings) as svc:
        for tx in history:
            produce(TRANSACTIONS, "DUP", tx.SerializeToString())
        assert wait_for(lambda: len(_stored_customer(svc, "DUP")["ids"]) == len(history), timeout=60)
        stub = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token(*SCORER)))
        first = stub.ScoreTransaction(request, timeout=10)
        retried = stub.ScoreTransaction(request, timeout=10)  # the authorization retried
        assert retried.score == first.score and retried.decision == first.decision
        produce(TRANSACTIONS, "DUP", payment.SerializeToString())  # the same payment, booked on the stream
        produce(TRANSACTIONS, "DUP", marker.SerializeToString())
        assert wait_for(lambda: "DUP-next" in _stored_customer(svc, "DUP")["ids"], timeout=60)
        ids = _stored_customer(svc, "DUP")["ids"]
    assert ids == [*(tx.id for tx in history), "DUP-pay", "DUP-next"]  # each once, in time order

    with ServiceThread(SERVICE.build(settings, model_dir=fraud_model_dir), settings) as svc:  # a restart
        stub = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token(*SCORER)))
        stub.ScoreTransaction(request, timeout=10)  # retried once more, after the restart
        produce(TRANSACTIONS, "DUP", card_payment("DUP-last", "DUP", 3000, "T-DUP-2", now + 10).SerializeToString())
        assert wait_for(lambda: "DUP-last" in _stored_customer(svc, "DUP")["ids"], timeout=60)
        assert _stored_customer(svc, "DUP")["ids"] == [*ids, "DUP-last"]
