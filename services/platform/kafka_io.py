"""Kafka clients with the project's settings, and the `Output` a handler asks the runner to produce."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import TopicAlreadyExistsError

from services.platform.settings import Settings
from services.platform.topics import ALL_TOPICS

Headers = tuple[tuple[str, bytes], ...]
# A restarted broker is reconnected to within about this long (kafka-python backs off up to 30 s by default,
# which kept workers idle for half a minute after the broker was back).
RECONNECT_BACKOFF_MAX_MS = 2_000


@dataclass(frozen=True)
class Output:
    """One record to produce. `key` is a customer id wherever there is one, so order per customer holds."""

    topic: str
    key: str
    value: bytes
    headers: Headers = field(default=())


def security_config(settings: Settings) -> dict[str, object]:
    """The Kafka client's transport security: PLAINTEXT (the embedded development broker), SSL (TLS, with a
    client certificate when configured) or SASL_SSL (SCRAM-SHA-256/512 over TLS). Every client gets the same."""
    protocol = settings.kafka_security_protocol
    if protocol not in ("PLAINTEXT", "SSL", "SASL_SSL"):
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL or SASL_SSL, not {protocol!r}")
    config: dict[str, object] = {"security_protocol": protocol}
    if protocol == "PLAINTEXT":
        return config
    config.update({"ssl_check_hostname": True, "ssl_cafile": settings.kafka_ssl_cafile or None,
                   "ssl_certfile": settings.kafka_ssl_certfile or None,
                   "ssl_keyfile": settings.kafka_ssl_keyfile or None})
    if protocol == "SASL_SSL":
        config.update({"sasl_mechanism": settings.kafka_sasl_mechanism or "SCRAM-SHA-512",
                       "sasl_plain_username": settings.kafka_sasl_username,
                       "sasl_plain_password": settings.kafka_sasl_password})
    return config


def make_producer(settings: Settings, **overrides: object) -> KafkaProducer:
    """Idempotent producer, acks=all: a record is written once, in order, or the send fails."""
    config: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "client_id": "proactive-care",
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **security_config(settings),
    }
    config.update(overrides)
    return KafkaProducer(**config)


def make_consumer(settings: Settings, group_id: str | None, **overrides: object) -> KafkaConsumer:
    """A classic-protocol group consumer with auto-commit off: offsets are committed by the runner."""
    config: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.poll_max_records,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 1_000,
        # new topics and partitions are noticed within 30 s (the client default is 5 minutes)
        "metadata_max_age_ms": 30_000,
        "client_id": group_id or "proactive-care-reader",
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **security_config(settings),
    }
    config.update(overrides)
    return KafkaConsumer(**config)


def make_admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="proactive-care-admin",
                            **security_config(settings))


def produce_all(producer: KafkaProducer, outputs: Iterable[Output], timeout: float | None = None) -> int:
    """Send every output, flush, and raise if any send failed or the flush took longer than `timeout` seconds
    (`KafkaTimeoutError`). Returns how many were sent."""
    futures = [
        producer.send(o.topic, key=o.key.encode(), value=o.value, headers=list(o.headers)) for o in outputs
    ]
    if not futures:
        return 0
    producer.flush(timeout)
    for f in futures:
        f.get(timeout=0)  # re-raises a failed send: offsets must then not be committed
    return len(futures)


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
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(settings.topic(t.name), t.partitions, replication_factor,
                     topic_configs={"min.insync.replicas": str(min_insync),
                                    **({"cleanup.policy": "compact"} if t.compacted else {})})
            for t in ALL_TOPICS
            if settings.topic(t.name) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won the race
                admin.create_topics(wanted)
            admin.wait_for_topics([t.name for t in wanted], timeout_ms=30_000)
        return [t.name for t in wanted]
    finally:
        admin.close()
