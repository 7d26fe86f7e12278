"""Kafka clients with the project's settings, and the `Output` a handler asks the runner to produce."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from services.platform.kafka_client import (
    Producer,
    TopicSpec,
    kafka_python_consumer_config,
    kafka_python_producer_config,
    kafka_python_security,
    open_admin,
)
from services.platform.settings import Settings
from services.platform.topics import ALL_TOPICS

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Output:
    """One record to produce. `key` is a customer id wherever there is one, so order per customer holds."""

    topic: str
    key: str
    value: bytes
    headers: Headers = field(default=())


def security_config(settings: Settings) -> dict[str, object]:
    """kafka-python's transport security: PLAINTEXT (the embedded development broker), SSL (TLS, with a client
    certificate when configured) or SASL_SSL (SCRAM-SHA-256/512 over TLS). Every client gets the same."""
    return kafka_python_security(settings)


def make_producer(settings: Settings, **overrides: object) -> KafkaProducer:
    """A kafka-python producer (idempotent, acks=all), for callers tied to its types (futures per send, its
    options); everything else produces through `kafka_client.open_producer`, whichever `KAFKA_CLIENT` is."""
    return KafkaProducer(**{**kafka_python_producer_config(settings), **overrides})


def make_consumer(settings: Settings, group_id: str | None, **overrides: object) -> KafkaConsumer:
    """A kafka-python consumer, auto-commit off (group-less reads of tools and tests; the runner consumes through
    `kafka_client.open_consumer`)."""
    return KafkaConsumer(**{**kafka_python_consumer_config(settings, group_id), **overrides})


def make_admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="proactive-care-admin",
                            **security_config(settings))


def produce_all(producer: Producer, outputs: Iterable[Output], timeout: float | None = None) -> int:
    """Send every output through the seam's producer, flush, and raise if any send failed or the flush took
    longer than `timeout` seconds. Returns how many were sent."""
    n = 0
    for o in outputs:
        producer.send(o.topic, o.key.encode(), o.value, o.headers)
        n += 1
    if n:
        producer.flush(timeout)  # re-raises a failed send: offsets must then not be committed
    return n


def encode_outputs(outputs: Sequence[Output]) -> bytes:
    """Outputs stored beside a processed event id, so a redelivered event re-produces the same records."""
    if not outputs:
        return b""
    return json.dumps([
        [o.topic, o.key, base64.b64encode(o.value).decode(), [[k, base64.b64encode(v).decode()] for k, v in o.headers]]
        for o in outputs
    ]).encode()


def decode_outputs(blob: bytes) -> list[Output]:
    if not blob:
        return []
    return [
        Output(topic, key, base64.b64decode(value), tuple((k, base64.b64decode(v)) for k, v in headers))
        for topic, key, value, headers in json.loads(blob)
    ]


def read_to_end(settings: Settings, topic: str) -> list[ConsumerRecord]:
    """Every record of `topic` (a name before its prefix) up to its current end, without a consumer group
    (evaluations and tools that inspect what a pipeline produced)."""
    name = settings.topic(topic)
    consumer = make_consumer(settings, None)
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[ConsumerRecord] = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                found += records
        return found
    finally:
        consumer.close()

def ensure_topics(settings: Settings, replication_factor: int = 1, min_insync: int = 1) -> list[str]:
    """Create every topic of this deployment that is missing (idempotent); returns the names created.

    A production cluster gives replication factor 3 and `min.insync.replicas` 2, so the producers' `acks=all`
    survives one broker down; the embedded single broker takes 1 and 1."""
    admin = open_admin(settings)
    try:
        return admin.create_topics([
            TopicSpec(settings.topic(t.name), t.partitions, replication_factor,
                      {"min.insync.replicas": str(min_insync),
                       **({"cleanup.policy": "compact"} if t.compacted else {})})
            for t in ALL_TOPICS])
    finally:
        admin.close()
