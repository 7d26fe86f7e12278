"""The whole system on a real broker and real gRPC: the simulator's stream through every service, and one
customer's journey from a suspicious payment to the "No, freeze my card" answer."""

from __future__ import annotations

import datetime as dt
import time

from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gen.proactivecare.v1 import events_pb2, fraud_pb2, fraud_pb2_grpc, notify_pb2, notify_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import CUSTOMERS, FRAUD_FEEDBACK, SOURCE_TOPICS, TRANSACTIONS, dlq
from services.simulator import events
from services.simulator.bank import build_bank
from services.simulator.handbook import HandbookConfig
from tests.integration.conftest import read_topic, wait_for
from tests.stores import rows
from tests.system import whole_system
from tests.unit.fraud.builders import card_payment, usual_history


def _serving(svc: ServiceThread) -> bool:
    with connect(svc.target) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest()).status
    return status == health_pb2.HealthCheckResponse.SERVING


def _handled(svc: ServiceThread, topic: str) -> float:
    return sum(svc.app.registry.get_sample_value(
        "proactivecare_stream_records_handled_total", {"service": r.service, "topic": topic}) or 0
        for r in svc.app.runners)


def test_every_service_consumes_the_simulators_stream_without_a_dead_letter(settings, produce, fraud_model_dir):
    # a recent start: the mortgage policies in force begin in 2023
    bank = build_bank(HandbookConfig(n_customers=60, n_terminals=120, n_days=40, seed=5, scale_frauds=True,
                                     start_date=dt.date(2025, 3, 3)))
    profiles = list(events.profiles(bank))
    transactions = list(events.transactions(bank))
    with whole_system(settings, fraud_model_dir) as system:
        for p in profiles:
            produce(CUSTOMERS, p.customer_id, p.SerializeToString())
        for tx in transactions:
            produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
        topic = settings.topic(TRANSACTIONS)
        for name in ("fraud", "advice", "mortgage"):
            assert wait_for(lambda name=name: _handled(system[name], topic) == len(transactions), timeout=240), name
        assert all(_serving(svc) for svc in system.values())
        # notify stores what fraud produced a moment after fraud handled the last transaction
        assert wait_for(lambda: events_pb2.NOTIFICATION_KIND_FRAUD_ALERT in {row[0] for row in rows(
            system["notify"].app.store, "SELECT DISTINCT kind FROM notifications")}, timeout=60)
    for spec in SOURCE_TOPICS:
        assert read_topic(settings, dlq(spec.name), expect=0, timeout=1) == [], spec.name


def test_a_suspicious_payment_reaches_the_app_and_the_answer_freezes_the_card(settings, produce, token,
                                                                             fraud_model_dir):
    customer, now = "E1", time.time()
    with whole_system(settings, fraud_model_dir) as system:
        app_channel = connect(system["notify"].target, token(customer))
        stream = notify_pb2_grpc.NotificationServiceStub(app_channel).Subscribe(
            notify_pb2.SubscribeRequest(customer_id=customer), timeout=90)
        for tx in usual_history(customer, now - 60):
            produce(TRANSACTIONS, customer, tx.SerializeToString())
        # a payment over the policy's always-check amount (AMOUNT_OVER_LIMIT, 5,000.00): alerted by the rule
        # whatever the model says, so the journey does not hang on how a freshly trained model scores one payment
        suspicious = card_payment("E1-big", customer, 520_000, f"T-{customer}-1", now)
        produce(TRANSACTIONS, customer, suspicious.SerializeToString())

        delivered = next(iter(stream)).delivered
        alert_note = delivered.notification
        assert delivered.sequence == 1 and alert_note.kind == events_pb2.NOTIFICATION_KIND_FRAUD_ALERT
        assert alert_note.data["transaction_id"] == "E1-big"
        assert all(r.code and r.text for r in alert_note.reasons) and alert_note.body
        assert [a.label for a in alert_note.actions] == ["Yes, it was me", "No, freeze my card"]
        stream.cancel()

        fraud = fraud_pb2_grpc.FraudServiceStub(connect(system["fraud"].target, token(customer)))
        alert = fraud.ResolveAlert(fraud_pb2.ResolveAlertRequest(alert_id=alert_note.source_id,
                                                                 confirmed_fraud=True), timeout=10).alert
        assert alert.status == fraud_pb2.ALERT_STATUS_CONFIRMED_FRAUD and alert.card_frozen
        feedback = read_topic(settings, FRAUD_FEEDBACK, expect=1)
        assert events_pb2.FraudFeedback.FromString(feedback[0].value).transaction_id == "E1-big"

        registry = system["notify"].app.registry
        assert registry.get_sample_value("proactivecare_notify_time_to_notify_seconds_count",
                                         {"kind": "FRAUD_ALERT"}) == 1
        app_channel.close()
