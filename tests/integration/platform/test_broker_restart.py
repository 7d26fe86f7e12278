"""A broker killed with `kill -9` and started again mid-stream, on its own embedded Kafka (not the session's:
the other tests must not see it go): the worker thread lives through it, pauses, then goes on without a process
restart; the simulator, producing all along, re-sends what failed; nothing is lost, nothing dead-lettered, every
effect applied once, health SERVING again."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from services.devtools.kafka_launcher import EmbeddedKafka, free_port
from services.platform.app import ServiceApp, ServiceThread
from services.platform.client import connect
from services.platform.settings import Settings
from services.platform.topics import TRANSACTIONS, dlq
from services.simulator.produce import Producer, ProduceResult, make_kafka_producer, send_all
from tests import factories
from tests.integration.conftest import read_topic, wait_for
from tests.integration.platform.ledger import build_runner
from tests.integration.platform.test_stream_runner import _effect_counts

SESSION_TIMEOUT_SECONDS = 10  # make_consumer's: an outage longer than this loses the group membership


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[Settings, EmbeddedKafka]]:
    run = uuid.uuid4().hex[:8]
    settings = Settings.from_env().with_overrides(
        kafka_bootstrap_servers="", kafka_port=free_port(), kafka_controller_port=free_port(), data_dir=tmp_path,
        topic_prefix=f"r{run}.", consumer_group_prefix=f"r{run}", poll_timeout_ms=100, poll_max_records=50,
        grpc_port=0, metrics_port=0, produce_timeout_seconds=5.0, retry_backoff_max_seconds=2.0)
    broker = EmbeddedKafka(settings, data_dir=tmp_path / "kafka")
    broker.start()
    try:
        yield settings, broker
    finally:
        broker.stop()


def _simulate(settings: Settings, txs: list, rate: float | None = None,  # type: ignore[type-arg]
              producer: Producer | None = None) -> list[ProduceResult]:
    """The simulator's own sender and producer, as `proactive-care simulate --produce` runs them."""
    producer = producer or make_kafka_producer(settings)
    try:
        return send_all(producer, [(settings.topic(TRANSACTIONS), tx.customer_id, tx) for tx in txs], rate=rate,
                        renew=lambda: make_kafka_producer(settings))
    finally:
        producer.close(10)


def _health(target: str) -> int:
    with connect(target) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


@pytest.mark.slow
def test_a_broker_killed_and_restarted_mid_stream_is_survived_without_a_restart(own_broker):
    settings, broker = own_broker
    before = [factories.transaction(customer_id=f"C{i % 9}") for i in range(400)]
    after = [factories.transaction(customer_id=f"C{i % 9}") for i in range(200)]
    _simulate(settings, before)

    registry = CollectorRegistry()
    runner, store = build_runner(settings, registry, delay_per_batch=0.05)
    app = ServiceApp("ledger", store, registry, runners=[runner])
    with ServiceThread(app, settings) as svc:
        assert wait_for(lambda: len(_effect_counts(store)) >= 100, timeout=60)
        producer = make_kafka_producer(settings)  # made while the broker is up, as in `make run`
        simulator = ThreadPoolExecutor(1).submit(_simulate, settings, after, 10.0, producer)  # on through the outage
        assert broker.process is not None
        os.kill(broker.process.pid, signal.SIGKILL)  # mid-stream, no clean shutdown
        broker.process.wait()
        time.sleep(SESSION_TIMEOUT_SECONDS + 2)  # down long enough for the group to drop the worker
        assert runner.is_alive()

        broker.start()  # the same data directory and ports
        [produced] = simulator.result(timeout=300)
        assert (produced.records, produced.failed) == (len(after), 0)  # the simulator re-sent what failed
        everything = {tx.id for tx in before + after}
        assert wait_for(lambda: set(_effect_counts(store)) == everything, timeout=180)
        assert wait_for(lambda: _health(svc.target) == health_pb2.HealthCheckResponse.SERVING, timeout=60)
        assert runner.is_alive()
        assert runner.failure is None

    assert set(_effect_counts(store).values()) == {1}  # every effect exactly once
    assert read_topic(settings, dlq(TRANSACTIONS), expect=0) == []  # nothing dead-lettered
