"""Transient is not poison: a handler failure that passes when tried again (a locked database) is retried with
backoff and nothing is committed or dead-lettered meanwhile; a record that fails every time on its own is
dead-lettered with its reason while the others are handled. Real broker, real SQLite store."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence

from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from services.platform import runner as runner_module
from services.platform.kafka_client import Message, TopicPartition
from services.platform.kafka_io import Output
from services.platform.runner import Record
from services.platform.storage import Tx
from services.platform.topics import NOTIFICATIONS, TRANSACTIONS, dlq
from tests import factories
from tests.integration.conftest import read_topic, wait_for
from tests.integration.platform import clients
from tests.integration.platform.ledger import LedgerHandler, build_runner
from tests.integration.platform.test_stream_runner import _committed as _committed_once
from tests.integration.platform.test_stream_runner import _effect_counts, _metric

_backend_and_client = clients._backend_and_client
backend, kafka_client, settings = clients.FIXTURES  # each test on each Kafka client (clients.CASES)


def _committed(settings, group: str, topic: str) -> int:  # type: ignore[no-untyped-def]
    """The group's committed offsets, asked again while the broker is still electing the group's coordinator."""
    for _ in range(50):
        try:
            return _committed_once(settings, group, topic)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            time.sleep(0.2)
    return _committed_once(settings, group, topic)


class FlakyLedger(LedgerHandler):
    """The ledger, but its database is 'locked' for the first `transient` calls (or until `release` is set), and
    the transaction ids in `poison` make it fail every time."""

    def __init__(self, inner: LedgerHandler, transient: int = 0, release: threading.Event | None = None,
                 poison: frozenset[str] = frozenset()) -> None:
        self.__dict__.update(inner.__dict__)
        self.transient, self.release, self.poison = transient, release, poison
        self.calls = 0

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        self.calls += 1
        if self.calls <= self.transient or (self.release is not None and not self.release.is_set()):
            raise sqlite3.OperationalError("database is locked")
        if any(r.value.id in self.poison for r in records):
            raise ValueError("cannot apply this transaction")
        return super().handle(records, tx)


def _flaky_runner(settings, registry, **flaky):  # type: ignore[no-untyped-def]
    runner, store = build_runner(settings, registry)
    runner.handler = FlakyLedger(runner.handler, **flaky)  # type: ignore[arg-type]
    return runner, store


def test_a_transient_failure_is_retried_until_it_passes_nothing_dead_lettered_every_effect_once(settings, produce):
    settings = settings.with_overrides(retry_backoff_seconds=0.05, retry_backoff_max_seconds=0.2)
    txs = [factories.transaction() for _ in range(6)]
    for tx in txs:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    registry = CollectorRegistry()
    runner, store = _flaky_runner(settings, registry, transient=3)
    runner.start()
    try:
        assert wait_for(lambda: _committed(settings, runner.group_id, TRANSACTIONS) == len(txs))
        assert runner.is_alive()
    finally:
        runner.stop()
        runner.join(30)
    assert _effect_counts(store) == {tx.id: 1 for tx in txs}
    assert read_topic(settings, dlq(TRANSACTIONS), expect=0) == []
    assert _metric(registry, "proactivecare_stream_transient_failures_total", service="ledger") >= 3
    assert runner.failing_since is None


def test_a_poison_record_is_dead_lettered_with_its_reason_and_the_others_are_handled(settings, produce):
    settings = settings.with_overrides(retry_backoff_seconds=0.05, retry_backoff_max_seconds=0.2)
    txs = [factories.transaction() for _ in range(5)]
    poison = txs[2]
    for tx in txs:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    registry = CollectorRegistry()
    runner, store = _flaky_runner(settings, registry, transient=1, poison=frozenset({poison.id}))
    runner.start()
    try:
        dead = read_topic(settings, dlq(TRANSACTIONS), expect=1)
        assert wait_for(lambda: _committed(settings, runner.group_id, TRANSACTIONS) == len(txs))
    finally:
        runner.stop()
        runner.join(30)
    assert _effect_counts(store) == {tx.id: 1 for tx in txs if tx is not poison}
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["dlq.reason"] == "handler_error"
    assert headers["dlq.error"] == "ValueError"  # the type only: an exception's text can carry record content
    assert dead[0].value == poison.SerializeToString()
    assert _metric(registry, "proactivecare_stream_records_dead_lettered_total", service="ledger",
                   topic=settings.topic(TRANSACTIONS), reason="handler_error") == 1


def test_transient_failures_past_the_limit_turn_health_off_until_they_pass_and_nothing_is_committed_meanwhile(
        settings, produce):
    settings = settings.with_overrides(retry_backoff_seconds=0.05, retry_backoff_max_seconds=0.2,
                                       transient_unhealthy_seconds=0.5)
    txs = [factories.transaction() for _ in range(4)]
    for tx in txs:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    release = threading.Event()
    runner, store = _flaky_runner(settings, CollectorRegistry(), release=release)
    runner.start()
    try:
        assert wait_for(lambda: not runner.is_healthy())
        assert runner.is_alive()
        assert _committed(settings, runner.group_id, TRANSACTIONS) == 0
        assert _effect_counts(store) == {}
        release.set()  # the database is back
        assert wait_for(lambda: _committed(settings, runner.group_id, TRANSACTIONS) == len(txs))
        assert wait_for(runner.is_healthy)
    finally:
        runner.stop()
        runner.join(30)
    assert _effect_counts(store) == {tx.id: 1 for tx in txs}
    assert read_topic(settings, dlq(TRANSACTIONS), expect=0) == []


class SlowFirstBatch(LedgerHandler):
    """The ledger, but its first batch takes `seconds`: longer than the consumer's max poll interval."""

    def __init__(self, inner: LedgerHandler, seconds: float) -> None:
        self.__dict__.update(inner.__dict__)
        self.seconds = seconds

    def handle(self, records: list[Record], tx: sqlite3.Connection) -> Mapping[str, Sequence[Output]]:
        if self.batches == 0:
            time.sleep(self.seconds)
        return super().handle(records, tx)


def test_partitions_lost_with_the_group_membership_get_nothing_committed_and_the_worker_goes_on(
        settings, produce, monkeypatch, caplog):
    """A batch longer than max.poll.interval.ms makes the client leave the group; at the next poll the client
    reports the partitions LOST (kafka-python used to call the commit-on-revoke listener, whose
    CommitFailedError killed the worker thread). librdkafka wants the interval no shorter than the session
    timeout, which the broker keeps at 6 s or more."""
    interval_ms = 6_000 if settings.kafka_client == "confluent" else 1_500
    real_open_consumer = runner_module.open_consumer
    monkeypatch.setattr(runner_module, "open_consumer", lambda s, group: real_open_consumer(
        s, group, max_poll_interval_ms=interval_ms, session_timeout_ms=min(interval_ms, 10_000)))
    txs = [factories.transaction() for _ in range(5)]
    for tx in txs:
        produce(TRANSACTIONS, tx.customer_id, tx.SerializeToString())
    runner, store = build_runner(settings, CollectorRegistry())
    runner.handler = SlowFirstBatch(runner.handler, seconds=interval_ms / 1000 + 2.5)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="services.platform.runner"):
        runner.start()
        try:
            assert wait_for(lambda: "nothing committed for them" in caplog.text, timeout=60)
            assert wait_for(lambda: _committed(settings, runner.group_id, TRANSACTIONS) == len(txs), timeout=60)
            assert runner.is_alive() and runner.failure is None
        finally:
            runner.stop()
            runner.join(30)
    assert _effect_counts(store) == {tx.id: 1 for tx in txs}
    assert read_topic(settings, dlq(TRANSACTIONS), expect=0) == []


def test_a_stream_deduped_by_offset_handles_a_redelivered_batch_once_and_produces_its_outputs_again(settings):
    """The same polled batch processed twice (what Kafka does after a lost commit): the first time a poison record
    is dead-lettered and the others handled; the second time nothing is handled again, and every output, the
    dead letter included, is produced again (nothing a consumer downstream waits for is lost)."""
    registry = CollectorRegistry()
    runner, store = build_runner(settings, registry, dedupe="offset")
    runner.handler = FlakyLedger(runner.handler, poison=frozenset({"T3"}))  # type: ignore[arg-type]
    assert [s.dedupe for s in runner.sources.values()] == ["offset"]
    topic = settings.topic(TRANSACTIONS)
    txs = [factories.transaction(id=f"T{i}") for i in range(5)]
    batch = {TopicPartition(topic, 0): [Message(topic, 0, 100 + i, b"C1", tx.SerializeToString(), 0, ())
                                        for i, tx in enumerate(txs)]}
    try:
        runner.process(batch)
        assert _effect_counts(store) == {tx.id: 1 for tx in txs if tx.id != "T3"}
        runner.process(batch)
        assert _effect_counts(store) == {tx.id: 1 for tx in txs if tx.id != "T3"}
        later = {TopicPartition(topic, 0): [Message(topic, 0, 105, b"C1",
                                                    factories.transaction(id="T5").SerializeToString(), 0, ())]}
        runner.process(later)  # the partition goes on after the redelivered batch
    finally:
        runner._drop_producer()
    assert _effect_counts(store) == {f"T{i}": 1 for i in (0, 1, 2, 4, 5)}
    outputs = read_topic(settings, NOTIFICATIONS, expect=2 * 4 + 1)
    assert sorted(r.value.decode() for r in outputs) == sorted(["T0", "T1", "T2", "T4"] * 2 + ["T5"])
    dead = read_topic(settings, dlq(TRANSACTIONS), expect=2)
    assert [r.value for r in dead] == [txs[3].SerializeToString()] * 2
    labels = {"service": "ledger", "topic": topic}
    assert _metric(registry, "proactivecare_stream_records_handled_total", **labels) == 5
    assert _metric(registry, "proactivecare_stream_records_redelivered_total", **labels) == 5
    assert _metric(registry, "proactivecare_stream_records_dead_lettered_total", reason="handler_error",
                   **labels) == 1
