"""The advisor's outcome outbox on the real broker, SQLite and PostgreSQL: an outcome written while the broker cannot
be reached waits in the store (counted as pending) and is published once it can, each once; nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from services.advisor.app import SERVICE
from services.advisor.metrics import AdvisorMetrics
from services.advisor.outcomes import OutcomeOutbox, OutcomeRelay
from services.gen.proactivecare.v1 import events_pb2
from services.platform.kafka_client import open_producer
from services.platform.storage import Store
from services.platform.topics import ADVISOR_OUTCOMES
from tests.integration.conftest import read_topic

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def outcome(task_id: str, customer: str) -> events_pb2.AdvisorOutcome:
    event = events_pb2.AdvisorOutcome(task_id=task_id, customer_id=customer, queue="financial-support",
                                      kind="PAYMENT_DIFFICULTY", source="mortgage", outcome="OFFER_DECLINED",
                                      advisor="ann", option_code="PAYMENT_HOLIDAY")
    event.completed_at.FromDatetime(T0)
    return event


def test_outcomes_wait_for_the_broker_and_are_published_once(settings, open_store):
    store: Store = open_store("advisor")
    store.migrate(SERVICE.migrations)
    with store.transaction() as tx:
        for i in range(3):
            OutcomeOutbox(tx).add(outcome(f"task-{i}", f"c-{i % 2}"))
        OutcomeOutbox(tx).add(outcome("task-0", "c-0"))          # a completion retried: still one outcome
    metrics = AdvisorMetrics.create(CollectorRegistry())
    unreachable = settings.with_overrides(kafka_bootstrap_servers="127.0.0.1:1")

    away = OutcomeRelay(store, settings, lambda: open_producer(unreachable, api_version=(3, 0, 0), max_block_ms=500),
                        metrics, clock=lambda: T0)
    with pytest.raises(KafkaError):
        away.relay_once()
    away.close()
    assert metrics.outcomes_pending._value.get() == 0  # not even counted: the transaction rolled back
    with store.read() as tx:
        assert OutcomeOutbox(tx).pending_count() == 3

    relay = OutcomeRelay(store, settings, lambda: open_producer(settings), metrics, clock=lambda: T0)
    try:
        assert relay.relay_once() == 3
        assert relay.relay_once() == 0                           # sent rows are not sent again
    finally:
        relay.close()
    assert metrics.outcomes_pending._value.get() == 0
    got = read_topic(settings, ADVISOR_OUTCOMES, expect=3, timeout=30)
    events = [events_pb2.AdvisorOutcome.FromString(r.value) for r in got]
    assert sorted(e.task_id for e in events) == ["task-0", "task-1", "task-2"]
    assert {(r.key, e.option_code) for r, e in zip(got, events, strict=True)} == {
        (b"c-0", "PAYMENT_HOLIDAY"), (b"c-1", "PAYMENT_HOLIDAY")}
    with store.read() as tx:                                     # the customer's record of outcomes stays
        assert [e.task_id for e in OutcomeOutbox(tx).of_customer("c-0", 10)] == ["task-0", "task-2"]
