"""`make run` supervises its services: one that exits is started again, up to a limit (real processes)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from services.devtools.devstack import MAX_RESTARTS, Endpoint, _supervise, _Supervised
from services.devtools.kafka_launcher import EmbeddedKafka, free_port, port_open
from services.platform.settings import Settings


def test_a_service_that_exits_is_restarted_until_the_limit(tmp_path: Path) -> None:
    svc = _Supervised(Endpoint("no-such-service", 1, 2), tmp_path)  # `serve` refuses it: the process exits
    svc.start()
    first = svc.proc
    assert first is not None
    first.wait(60)
    assert svc.check(stuck_seconds=60) is True  # exited: started again, as a new process
    assert svc.restarts == 1 and svc.proc is not first
    for _ in range(MAX_RESTARTS - 1):
        assert svc.proc is not None
        svc.proc.wait(60)
        assert svc.check(stuck_seconds=60) is True
    assert svc.proc is not None
    svc.proc.wait(60)
    assert svc.check(stuck_seconds=60) is False  # restarted too often: the stack stops instead
    assert svc.restarts == MAX_RESTARTS
    assert b"no-such-service" in svc.log_path.read_bytes()  # why it exited is in its log


class _Watcher:
    """Stands in for the supervised services: healthy until the broker answers again, then ends the loop."""

    def __init__(self, broker: EmbeddedKafka, first_pid: int) -> None:
        self.broker, self.first_pid = broker, first_pid

    def check(self, stuck_seconds: float) -> bool:
        return self.broker.pid() in (None, self.first_pid)


def test_a_broker_that_dies_is_restarted_and_said_so(tmp_path: Path, capsys) -> None:
    settings = Settings.from_env().with_overrides(kafka_port=free_port(), kafka_controller_port=free_port())
    broker = EmbeddedKafka(settings, data_dir=tmp_path / "kafka")
    broker.start()
    try:
        assert broker.process is not None
        first = broker.process.pid
        os.kill(first, signal.SIGKILL)
        broker.process.wait(30)
        _supervise([_Watcher(broker, first)], stuck_seconds=60, broker=broker, interval=0.5)  # type: ignore[list-item]
        assert broker.pid() not in (None, first) and port_open(settings.kafka_port)
        assert "Apache Kafka exited with -9: restarting it" in capsys.readouterr().out
    finally:
        broker.stop()
    assert not port_open(settings.kafka_port)
