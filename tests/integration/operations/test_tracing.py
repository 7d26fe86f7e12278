"""One trace follows a transaction from its producer through fraud and notify to the alert on the app's stream:
the trace context travels in Kafka headers (and is stored with the notification), each hop's span a child of the
one before."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.fraud.app import SERVICE as FRAUD
from services.gen.proactivecare.v1 import events_pb2, notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE as NOTIFY
from services.platform import tracing
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.kafka_io import make_producer
from services.platform.topics import TRANSACTIONS
from tests.integration.conftest import wait_for
from tests.unit.fraud.builders import card_payment, usual_history

_EXPORTER = InMemorySpanExporter()
DELIVERY = "proactivecare.v1.NotificationService deliver"


@pytest.fixture
def traced():
    if not tracing.enabled() and not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        tracing.install(provider)
    tracing.set_enabled(True)
    _EXPORTER.clear()
    yield _EXPORTER
    tracing.set_enabled(False)
    _EXPORTER.clear()


def test_one_trace_spans_the_producer_fraud_notify_and_the_apps_stream(settings, token, fraud_model_dir, traced):
    customer, now = "TR1", time.time()
    with ServiceThread(FRAUD.build(settings, model_dir=fraud_model_dir), settings), \
            ServiceThread(NOTIFY.build(settings), settings) as notify:
        app = connect(notify.target, token(customer))
        stream = notify_pb2_grpc.NotificationServiceStub(app).Subscribe(
            notify_pb2.SubscribeRequest(customer_id=customer), timeout=120)
        producer = make_producer(settings)
        for tx in usual_history(customer, now - 60):
            producer.send(settings.topic(TRANSACTIONS), key=customer.encode(), value=tx.SerializeToString())
        with tracing.tracer.start_as_current_span("core-banking send", kind=SpanKind.PRODUCER) as root:
            # a payment over the policy's always-check amount (AMOUNT_OVER_LIMIT, 5,000.00): alerted by the rule
            # whatever the model says, so the journey does not hang on how a freshly trained model scores one payment
            suspicious = card_payment("TR1-big", customer, 520_000, f"T-{customer}-1", now)
            producer.send(settings.topic(TRANSACTIONS), key=customer.encode(), value=suspicious.SerializeToString(),
                          headers=list(tracing.headers_for(root)))
        producer.flush()
        delivered = next(iter(stream)).delivered
        # the server ends the delivery hop once gRPC has sent the message, which may come after the app has it
        assert wait_for(lambda: any(s.name == DELIVERY for s in traced.get_finished_spans()), timeout=10)
        stream.cancel()
        app.close()
        producer.close()
    assert delivered.notification.kind == events_pb2.NOTIFICATION_KIND_FRAUD_ALERT
    trace_id = root.get_span_context().trace_id
    spans = {s.name: s for s in traced.get_finished_spans() if s.context.trace_id == trace_id}
    fraud_hop = spans[f"{settings.topic(TRANSACTIONS)} process"]
    notify_hop = spans[f"{settings.topic('notifications')} process"]
    delivery = spans[DELIVERY]
    assert fraud_hop.parent.span_id == root.get_span_context().span_id
    assert notify_hop.parent.span_id == fraud_hop.context.span_id
    assert delivery.parent.span_id == notify_hop.context.span_id
    assert fraud_hop.attributes["messaging.system"] == "kafka"
    # the untraced history made traces of their own: tracing never mixes two transactions
    assert sum(1 for s in traced.get_finished_spans() if s.name == fraud_hop.name) >= 21
