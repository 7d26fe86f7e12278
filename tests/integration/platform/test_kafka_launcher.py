"""The embedded broker tells the truth: it never joins a broker it did not start, `pid` is the process that
really listens, and `stop` never signals someone else's broker."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from services.devtools.kafka_launcher import EmbeddedKafka, ForeignBrokerError, listener_pid, port_open


def test_the_listener_of_a_port_is_found_through_proc():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert listener_pid(port) is None  # bound, not listening
        s.listen()
        assert listener_pid(port) == os.getpid()


def test_a_broker_of_another_checkout_is_refused_not_joined_nor_stopped(kafka_settings, tmp_path):
    other = EmbeddedKafka(kafka_settings, data_dir=tmp_path / "kafka")  # this "checkout" formatted nothing
    with pytest.raises(ForeignBrokerError) as refused:
        other.start(timeout=30)
    message = str(refused.value)
    assert f"port {kafka_settings.kafka_port} is held by a broker this checkout did not start" in message
    assert "KAFKA_BOOTSTRAP_SERVERS" in message and "\n" not in message  # one line that says what to do
    pid = other.pid()
    assert pid is not None and "kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert other.answering_cluster_id() not in (None, other.cluster_id())
    assert other.stop() is False  # not ours: left alone
    assert port_open(kafka_settings.kafka_port) and other.pid() == pid


def test_free_ports_are_never_handed_out_twice():
    """A broker's port and its controller's, picked one after the other, must differ (the kernel may give the same
    free port back at once; the broker then refuses two listeners on one port)."""
    from services.devtools.kafka_launcher import free_port

    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
