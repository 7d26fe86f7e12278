"""The Kafka client seam without a broker: the client is chosen by KAFKA_CLIENT, librdkafka's errors become the
kernel's (transient where kafka-python's would be), kafka-python option names reach librdkafka translated."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from services.platform.errors import is_transient
from services.platform.kafka_client import (
    CLIENTS,
    KafkaClientError,
    TopicPartition,
    _confluent_error,
    _confluent_overrides,
    client_name,
    open_consumer,
)
from services.platform.settings import Settings


def test_the_client_is_chosen_by_kafka_client_and_an_unknown_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().kafka_client == "kafka-python"
    monkeypatch.setenv("KAFKA_CLIENT", "Confluent")
    assert client_name(Settings.from_env()) == "confluent"
    assert set(CLIENTS) == {"kafka-python", "confluent"}
    with pytest.raises(ValueError, match="KAFKA_CLIENT"):
        open_consumer(Settings(kafka_client="librdkafka"), "g")


@pytest.mark.parametrize(("code", "transient"), [
    (KafkaError._TRANSPORT, True), (KafkaError._TIMED_OUT, True), (KafkaError.UNKNOWN_MEMBER_ID, True),
    (KafkaError.REBALANCE_IN_PROGRESS, True), (KafkaError.TOPIC_AUTHORIZATION_FAILED, False),
    (KafkaError._INVALID_ARG, False),
])
def test_librdkafka_errors_are_transient_where_kafka_python_s_are(code: int, transient: bool) -> None:
    error = _confluent_error(KafkaError(code), "poll")
    assert isinstance(error, KafkaClientError)
    assert is_transient(error) is transient
    assert is_transient(RuntimeError("wrapped")) is False
    try:
        raise RuntimeError("batch failed") from error
    except RuntimeError as wrapped:
        assert is_transient(wrapped) is transient


def test_kafka_python_option_names_are_translated_for_librdkafka() -> None:
    assert _confluent_overrides({"max_poll_interval_ms": 6_000, "session_timeout_ms": 6_000, "max_block_ms": 1,
                                 "linger_ms": 20, "batch_size": 1024}) == {
        "max.poll.interval.ms": 6_000, "session.timeout.ms": 6_000, "linger.ms": 20, "batch.size": 1024}


def test_a_partition_is_equal_to_kafka_python_s() -> None:
    from kafka import TopicPartition as KafkaTopicPartition

    assert TopicPartition("t", 1) == KafkaTopicPartition("t", 1)
    assert {KafkaTopicPartition("t", 1): 5}[TopicPartition("t", 1)] == 5
