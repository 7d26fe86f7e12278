"""Kafka transport security: the settings reach every client, and the project's own clients (`make_producer`,
`make_consumer` through the StreamRunner, `read_to_end`) work against the embedded broker's SSL listener (mutual
TLS) and SASL_SSL listener (SCRAM-SHA-512), while a wrong password, an untrusted CA or a missing client
certificate is refused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from kafka.errors import KafkaTimeoutError

from services.devtools.kafka_launcher import SecureListeners
from services.platform.dev_tls import ensure_dev_tls
from services.platform.kafka_client import open_producer
from services.platform.kafka_io import Output, make_producer, produce_all, read_to_end, security_config
from services.platform.settings import Settings
from services.platform.topics import NOTIFICATIONS, TRANSACTIONS
from tests import factories
from tests.integration.conftest import wait_for
from tests.integration.platform.ledger import build_runner
from tests.stores import rows


def test_plaintext_is_only_the_protocol():
    assert security_config(Settings()) == {"security_protocol": "PLAINTEXT"}


def test_ssl_passes_the_ca_and_the_client_certificate():
    config = security_config(Settings(kafka_security_protocol="SSL", kafka_ssl_cafile="/ca.pem",
                                      kafka_ssl_certfile="/c.pem", kafka_ssl_keyfile="/k.pem"))
    assert config == {"security_protocol": "SSL", "ssl_check_hostname": True, "ssl_cafile": "/ca.pem",
                      "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem"}


def test_sasl_ssl_uses_scram_over_tls():
    config = security_config(Settings(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile="/ca.pem",
                                      kafka_sasl_username="fraud", kafka_sasl_password="s3cret"))
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("fraud", "s3cret")
    assert config["ssl_cafile"] == "/ca.pem" and config["ssl_check_hostname"] is True


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "TLS", ""])
def test_an_unknown_or_unencrypted_sasl_protocol_is_refused(protocol):
    with pytest.raises(ValueError, match="KAFKA_SECURITY_PROTOCOL"):
        security_config(Settings(kafka_security_protocol=protocol))


# ---- against the embedded broker's TLS listeners ------------------------------------------------------------

@pytest.fixture
def backend() -> str:
    """Transport security does not depend on the store: SQLite only."""
    return "sqlite"


def over_ssl(settings: Settings, listeners: SecureListeners, **changes: object) -> Settings:
    """Settings for the SSL listener: the development CA, and a client certificate of it (mutual TLS)."""
    tls = listeners.tls
    return settings.with_overrides(**{
        "kafka_bootstrap_servers": f"127.0.0.1:{listeners.ssl_port}", "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": str(tls.ca_file), "kafka_ssl_certfile": str(tls.client_cert_file),
        "kafka_ssl_keyfile": str(tls.client_key_file), **changes})


def over_sasl_ssl(settings: Settings, listeners: SecureListeners, **changes: object) -> Settings:
    """Settings for the SASL_SSL listener: the development CA, and a SCRAM user created at format time."""
    (username, password), = listeners.scram_users.items()
    return settings.with_overrides(**{
        "kafka_bootstrap_servers": f"127.0.0.1:{listeners.sasl_ssl_port}", "kafka_security_protocol": "SASL_SSL",
        "kafka_ssl_cafile": str(listeners.tls.ca_file), "kafka_sasl_username": username,
        "kafka_sasl_password": password, **changes})


SECURED = {"SSL": over_ssl, "SASL_SSL": over_sasl_ssl}


@pytest.mark.parametrize("protocol", sorted(SECURED))
def test_records_are_produced_consumed_and_committed_over_the_secured_listener(settings, kafka_secure_listeners,
                                                                             protocol):
    secured = SECURED[protocol](settings, kafka_secure_listeners)
    transactions = [factories.transaction(customer_id=f"C{i}") for i in range(3)]
    producer = open_producer(secured)
    try:
        assert produce_all(producer, [Output(secured.topic(TRANSACTIONS), tx.customer_id, tx.SerializeToString())
                                      for tx in transactions], timeout=30) == 3
    finally:
        producer.close()

    runner, store = build_runner(secured)  # consumes, handles, produces and commits over the same listener
    runner.start()
    try:
        assert wait_for(lambda: len(rows(store, "SELECT event_id FROM effects")) == 3)
    finally:
        runner.stop()
        runner.join(30)
    outputs = read_to_end(secured, NOTIFICATIONS)
    assert sorted(r.value.decode() for r in outputs) == sorted(tx.id for tx in transactions)


def refused_for(settings: Settings, caplog: pytest.LogCaptureFixture, reason: str) -> bool:
    """A producer never connects, and the client's log of its attempts names `reason`. On a loaded machine one
    short attempt may end before the broker's answer arrives (a timeout, not the refusal): then it tries again."""

    def attempt() -> bool:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kafka"), pytest.raises(KafkaTimeoutError):
            make_producer(settings, bootstrap_timeout_ms=2_000)
        return any(reason in r.getMessage() for r in caplog.records if "Bootstrap connection" in r.getMessage())

    return wait_for(attempt, timeout=60)


SCRAM_REFUSAL = "invalid credentials with SASL mechanism SCRAM-SHA-512"


def test_a_wrong_scram_password_is_refused(settings, kafka_secure_listeners, kafka_broker_log):
    """The reason is read from the broker's log: it may close the socket before its refusal reaches the client,
    whose log then says only that the socket disconnected."""
    wrong = over_sasl_ssl(settings, kafka_secure_listeners, kafka_sasl_password="not-the-password")
    seen = kafka_broker_log.read_text().count(SCRAM_REFUSAL)
    with pytest.raises(KafkaTimeoutError):
        make_producer(wrong, bootstrap_timeout_ms=5_000)
    assert wait_for(lambda: kafka_broker_log.read_text().count(SCRAM_REFUSAL) > seen, timeout=30)


def test_a_broker_certificate_of_an_untrusted_ca_is_refused(settings, kafka_secure_listeners, caplog,
                                                            tmp_path: Path):
    other_ca = ensure_dev_tls(tmp_path / "other-ca").ca_file
    untrusting = over_sasl_ssl(settings, kafka_secure_listeners, kafka_ssl_cafile=str(other_ca))
    assert refused_for(untrusting, caplog, "CERTIFICATE_VERIFY_FAILED")


def test_the_ssl_listener_refuses_a_client_without_a_certificate(settings, kafka_secure_listeners, caplog):
    anonymous = over_ssl(settings, kafka_secure_listeners, kafka_ssl_certfile="", kafka_ssl_keyfile="")
    assert refused_for(anonymous, caplog, "BAD_CERTIFICATE")  # mutual TLS: a client certificate of the CA
