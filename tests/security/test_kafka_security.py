"""Kafka transport security settings reach every client (pure configuration: the TLS listener test is not
written yet)."""

from __future__ import annotations

import pytest

from services.platform.kafka_io import security_config
from services.platform.settings import Settings


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
