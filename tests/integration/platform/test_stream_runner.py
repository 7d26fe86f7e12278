"""The stream runner against a real broker: handle, commit, resume, dead letters, idempotent effects, metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from kafka import KafkaAdminClient
from prometheus_client import CollectorRegistry

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.platform.kafka_client import CONFLUENT, TopicPartition, open_consumer
from services.platform.pan import redact_bytes
from services.platform.settings import Settings
from services.platform.topics import NOTIFICATIONS, TRANSACTIONS, dlq
from services.simulator import events
from services.simulator.bank import build_bank
from services.simulator.handbook import HandbookConfig
from tests import factories
from tests.integration.conftest import read_topic, wait_for
from tests.integration.platform import clients
from tests.integration.platform.ledger import build_runner
from tests.stores import rows

_backend_and_client = clients._backend_and_client
backend, kafka_client, settings = clients.FIXTURES  # each test on each Kafka client (clients.CASES)


def _effect_counts(store) -> dict[str, int]:
    return {r.event_id: r.n for r in rows(store, "SELECT event_id, COUNT(*) AS n FROM effects GROUP BY event_id")}


def _committed(settings: Settings, group: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == settings.topic(topic))


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _simulated(n: int) -> list[events_pb2.Transaction]:
    """Transactions from the synthetic bank, as the simulator produces them."""
    bank = build_bank(HandbookConfig(n_customers=50, n_terminals=100, n_days=10, seed=3))
    return list(events.transactions(bank, 0, n))


def test_simulator_transactions_are_handled_committed_and_a_restart_resumes_from_the_committed_offset(
        settings, produce):
    simulated = _simulated(8)
    first, second = simulated[:5], simulated[5:]
    for tx in first:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())

    runner, store = build_runner(settings)
    runner.start()
    assert wait_for(lambda: len(_effect_counts(store)) == 5)
    runner.stop()
    runner.join(30)
    assert _committed(settings, runner.group_id, TRANSACTIONS) == 5

    for tx in second:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    registry = CollectorRegistry()
    restarted, store = build_runner(settings, registry)
    restarted.start()
    assert wait_for(lambda: len(_effect_counts(store)) == 8)
    restarted.stop()
    restarted.join(30)

    # the restarted worker read only what came after the committed offset
    assert _metric(registry, "proactivecare_stream_records_consumed_total", service="ledger",
                   topic=settings.topic(TRANSACTIONS)) == 3
    assert set(_effect_counts(store)) == {tx.id for tx in first + second}
    assert set(_effect_counts(store).values()) == {1}
    outputs = read_topic(settings, NOTIFICATIONS, expect=8)
    assert sorted(r.value.decode() for r in outputs) == sorted(tx.id for tx in first + second)


def test_a_redelivered_event_changes_nothing_but_its_outputs_are_produced_again(settings, produce):
    tx = factories.transaction()
    for _ in range(3):  # the same event delivered three times (e.g. a producer retry upstream)
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    registry = CollectorRegistry()
    runner, store = build_runner(settings, registry)
    runner.start()
    assert wait_for(lambda: _committed(settings, runner.group_id, TRANSACTIONS) == 3)
    runner.stop()
    runner.join(30)
    assert _effect_counts(store) == {tx.id: 1}
    labels = {"service": "ledger", "topic": settings.topic(TRANSACTIONS)}
    assert _metric(registry, "proactivecare_stream_records_handled_total", **labels) == 1
    assert _metric(registry, "proactivecare_stream_records_redelivered_total", **labels) == 2


def _bad(**overrides) -> bytes:
    return factories.transaction(**overrides).SerializeToString()


BAD_RECORDS = [
    # (case, bytes, dead-letter reason, field named in the error)
    ("malformed bytes", b"\xff\xfe not a protobuf \x00\x01", "undecodable", ""),
    ("no id", _bad(id=""), "missing_id", "transaction.id"),
    ("negative amount, credit", _bad(amount=common_pb2.Money(amount_minor=-500, currency="GBP"),
                                     direction=events_pb2.DIRECTION_CREDIT), "negative_amount",
     "transaction.amount.amount_minor"),
    ("unknown currency", _bad(amount=common_pb2.Money(amount_minor=500, currency="XYZ")), "unknown_currency",
     "transaction.amount.currency"),
    ("no customer", _bad(customer_id=""), "missing_customer_id", "transaction.customer_id"),
    ("a PAN as card token", _bad(card_token="4111111111111111"), "pan_detected", "transaction.card_token"),
    ("no direction", _bad(direction=events_pb2.DIRECTION_UNSPECIFIED), "missing_direction",
     "transaction.direction"),
]


def test_bad_records_land_in_the_dead_letter_topic_with_their_reason_and_the_worker_keeps_going(settings, produce):
    good_before, good_after = factories.transaction(), factories.transaction()
    produce(TRANSACTIONS, "C1", good_before.SerializeToString())
    for _case, value, _reason, _field in BAD_RECORDS:
        produce(TRANSACTIONS, "C1", value)
    produce(TRANSACTIONS, "C1", good_after.SerializeToString())

    registry = CollectorRegistry()
    runner, store = build_runner(settings, registry)
    runner.start()
    try:
        dead = read_topic(settings, dlq(TRANSACTIONS), expect=len(BAD_RECORDS))
        assert wait_for(lambda: len(_effect_counts(store)) == 2)
        assert runner.is_healthy()
    finally:
        runner.stop()
        runner.join(30)

    assert set(_effect_counts(store)) == {good_before.id, good_after.id}
    assert len(dead) == len(BAD_RECORDS)
    for record, (case, value, reason, field) in zip(dead, BAD_RECORDS, strict=True):
        headers = {k: v.decode() for k, v in record.headers}
        # the original bytes, nothing lost, except a card number: masked to its last four digits (same length)
        assert record.value == redact_bytes(value), case
        assert b"4111111111111111" not in record.value, case
        assert headers["dlq.reason"] == reason, case
        assert field in headers["dlq.error"], case
        assert headers["dlq.service"] == "ledger"
        assert headers["dlq.source.topic"] == settings.topic(TRANSACTIONS)
        assert int(headers["dlq.source.offset"]) >= 1
    labels = {"service": "ledger", "topic": settings.topic(TRANSACTIONS)}
    assert _metric(registry, "proactivecare_stream_records_dead_lettered_total", reason="unknown_currency",
                   **labels) == 1


def test_metrics_show_exact_counts_after_a_known_number_of_records(settings, produce):
    for _ in range(7):
        tx = factories.transaction()
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    produce(TRANSACTIONS, "C1", b"\x00garbage")
    produce(TRANSACTIONS, "C1", _bad(id=""))
    registry = CollectorRegistry()
    runner, _store = build_runner(settings, registry)
    runner.start()
    assert wait_for(lambda: _committed(settings, runner.group_id, TRANSACTIONS) == 9)
    runner.stop()
    runner.join(30)
    labels = {"service": "ledger", "topic": settings.topic(TRANSACTIONS)}
    assert _metric(registry, "proactivecare_stream_records_consumed_total", **labels) == 9
    assert _metric(registry, "proactivecare_stream_records_handled_total", **labels) == 7
    assert _metric(registry, "proactivecare_stream_records_dead_lettered_total", reason="undecodable", **labels) == 1
    assert _metric(registry, "proactivecare_stream_records_dead_lettered_total", reason="missing_id", **labels) == 1
    assert _metric(registry, "proactivecare_stream_batch_handling_seconds_count", service="ledger") >= 1
    assert _metric(registry, "proactivecare_stream_last_processed_timestamp_seconds", service="ledger") > 0


def test_a_rebalance_commits_the_revoked_partitions_so_their_next_owner_reads_on_from_there(settings, produce,
                                                                                         monkeypatch):
    """The first worker commits nothing after its batches (async commits off), so only the commit on revoke can
    tell the second worker where to start: no record is read twice, every effect applied once."""
    first_txs = [factories.transaction(customer_id=f"C{i}") for i in range(30)]
    for tx in first_txs:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    first_registry, second_registry = CollectorRegistry(), CollectorRegistry()
    first, store = build_runner(settings, first_registry)
    monkeypatch.setattr(first, "_commit_async", lambda: None)
    first.start()
    second = None
    try:
        assert wait_for(lambda: len(_effect_counts(store)) == len(first_txs), timeout=60)  # a loaded machine
        # (committed may be > 0 already: a rebalance of its own, e.g. on the new topic's metadata, revoked too)
        second, _ = build_runner(settings, second_registry)
        second.start()
        assert wait_for(lambda: second.ready.is_set(), timeout=60)
        later = [factories.transaction(customer_id=f"C{i}") for i in range(30)]
        for tx in later:
            produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
        assert wait_for(lambda: len(_effect_counts(store)) == len(first_txs) + len(later), timeout=60)
    finally:
        for runner in (first, second):
            if runner is not None:
                runner.stop()
                runner.join(30)
    assert set(_effect_counts(store).values()) == {1}
    labels = {"service": "ledger", "topic": settings.topic(TRANSACTIONS)}
    consumed = sum(_metric(r, "proactivecare_stream_records_consumed_total", **labels)
                   for r in (first_registry, second_registry))
    assert consumed == len(first_txs) + len(later)  # nothing read twice: the revoke committed
    assert _metric(second_registry, "proactivecare_stream_records_consumed_total", **labels) > 0
    assert first.failure is None and second is not None and second.failure is None


def _worker_process(settings: Settings, delay: float, dedupe: str = "event") -> subprocess.Popen:
    env = {**os.environ, "LEDGER_DEDUPE": dedupe, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "KAFKA_CLIENT": settings.kafka_client,
           "TOPIC_PREFIX": settings.topic_prefix, "CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
           "PROACTIVE_CARE_DATA_DIR": str(settings.data_dir), "POLL_MAX_RECORDS": "50",
           "BATCH_DELAY": str(delay), "DATABASE_URL": settings.database_url,
           "DATABASE_SCHEMA_PREFIX": settings.database_schema_prefix}
    return subprocess.Popen([sys.executable, "-m", "tests.integration.platform.ledger"], env=env)


@pytest.mark.slow
def test_kill_9_mid_batch_then_restart_handles_everything_at_least_once_and_every_effect_exactly_once(
        settings, produce, kafka_client):
    """By event id (a processed-events row per record; kafka-python) or by offset (each partition's next offset;
    confluent-kafka): either is written in the batch's transaction, so a batch cut short by the kill leaves no
    effect and moves no offset. (A committed batch redelivered: test_transient_failures' offset test.)"""
    dedupe = "offset" if kafka_client == CONFLUENT else "event"
    txs = [factories.transaction(customer_id=f"C{i % 7}") for i in range(600)]
    for tx in txs:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    _runner, store = build_runner(settings)  # the same database file the process uses

    worker = _worker_process(settings, delay=0.05, dedupe=dedupe)
    assert wait_for(lambda: len(_effect_counts(store)) >= 150, timeout=60)
    worker.send_signal(signal.SIGKILL)  # no chance to commit anything
    worker.wait()
    handled_before_kill = len(_effect_counts(store))
    assert handled_before_kill < len(txs)

    worker = _worker_process(settings, delay=0.0, dedupe=dedupe)
    try:
        assert wait_for(lambda: len(_effect_counts(store)) == len(txs), timeout=90)
        time.sleep(1.0)  # let any redelivered batch finish
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0  # SIGTERM: finish the batch, commit, exit cleanly

    counts = _effect_counts(store)
    assert set(counts) == {tx.id for tx in txs}  # everything handled at least once
    assert set(counts.values()) == {1}  # every effect exactly once
    outputs = read_topic(settings, NOTIFICATIONS, expect=len(txs), timeout=30)
    assert {r.value.decode() for r in outputs} == {tx.id for tx in txs}  # every output produced at least once


def test_the_fetch_stall_check_sees_records_beyond_the_position_on_each_client(settings, produce):
    """The watchdog's evidence of a stalled fetch (`StreamRunner._behind`) on a real consumer: the seam's own
    partitions reach each client's position, seek and end offsets (kafka-python refuses any type but its own, which
    once left this check failing, and a stalled fetch unseen, on kafka-python)."""
    for _ in range(3):
        produce(TRANSACTIONS, "C1", factories.transaction().SerializeToString())
    runner, _store = build_runner(settings)
    topic = settings.topic(TRANSACTIONS)
    consumer = open_consumer(settings, f"{settings.consumer_group_prefix}.seam")
    consumer.subscribe([topic], on_assigned=lambda _p: None, on_revoked=lambda _p: {}, on_lost=lambda _p: None)
    try:
        seen: list = []
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline:
            for messages in consumer.poll(500, 100).values():
                seen += messages
        assert len(seen) == 3
        tp = TopicPartition(topic, seen[0].partition)
        assert consumer.position(tp) == seen[-1].offset + 1
        assert runner._behind(consumer) is False  # caught up
        for _ in range(2):
            produce(TRANSACTIONS, "C1", factories.transaction().SerializeToString())
        assert wait_for(lambda: runner._behind(consumer), 30)  # records beyond the position, none fetched
        consumer.seek(tp, seen[0].offset)  # the runner's rewind after a transient failure
        again: list = []
        while not again and time.monotonic() < deadline + 30:
            for messages in consumer.poll(500, 100).values():
                again += messages
        assert again and again[0].offset == seen[0].offset
    finally:
        consumer.close()
