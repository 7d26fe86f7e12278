"""Integration fixtures: isolated topics, consumer groups, data dirs and tokens per test on the session's one
broker (`kafka_settings`, tests/conftest.py). Each test gets its own topic prefix and consumer groups, so tests
share the broker but not state.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.devtools.kafka_launcher import ensure_topics
from services.platform.dev_identity import DevIdentity, ensure_dev_identity
from services.platform.kafka_io import make_producer
from services.platform.settings import Settings


@pytest.fixture
def settings(kafka_settings: Settings, tmp_path: Path, database_url: str) -> Settings:
    """Settings of one test: its own topics, consumer groups, data directory and database schemas; every test
    runs on SQLite and on PostgreSQL (`backend`, tests/conftest.py)."""
    run = uuid.uuid4().hex[:8]
    s = kafka_settings.with_overrides(topic_prefix=f"t{run}.", consumer_group_prefix=f"g{run}",
                                      data_dir=tmp_path, poll_timeout_ms=100, grpc_port=0, metrics_port=0,
                                      database_url=database_url, database_schema_prefix=f"t{run}_")
    ensure_topics(s)
    return s


# the audiences a test token carries by default: every service, and the bootstrap tests' probe app
TEST_AUDIENCES = ("fraud", "notify", "advice", "advisor", "mortgage", "probe")


def dev_identity() -> DevIdentity:
    """The test session's development identity provider (tests/conftest.py)."""
    return ensure_dev_identity(Path(os.environ["PROACTIVE_CARE_TEST_KEYS"]) / "dev-identity")


@pytest.fixture
def token(settings: Settings) -> Callable[..., str]:
    def issue(subject: str, role: str = "customer", queues: tuple[str, ...] = (), scopes: tuple[str, ...] = (),
              services: tuple[str, ...] = TEST_AUDIENCES) -> str:
        return dev_identity().issue(subject, role, audience=[settings.audience(s) for s in services],
                                    issuer=settings.auth_issuer, queues=queues, scopes=scopes)

    return issue


@pytest.fixture
def produce(settings: Settings) -> Iterator[Callable[..., None]]:
    producer = make_producer(settings)

    def send(topic: str, key: str, value: bytes) -> None:
        producer.send(settings.topic(topic), key=key.encode(), value=value)
        producer.flush()

    yield send
    producer.close()


def read_topic(settings: Settings, topic: str, *, expect: int, timeout: float = 30.0,
               match: Callable[[object], bool] = lambda _r: True) -> list:
    """Read `topic` from the beginning (no group) until `expect` matching records arrived or time is up."""
    name = settings.topic(topic)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                             auto_offset_reset="earliest", group_id=None)
    try:
        partitions = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        found: list = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(found) < expect:
            for records in consumer.poll(timeout_ms=200).values():
                found += [r for r in records if match(r)]
        # a short extra read so a test can see a record that should NOT be there
        for records in consumer.poll(timeout_ms=300).values():
            found += [r for r in records if match(r)]
        return found
    finally:
        consumer.close()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
