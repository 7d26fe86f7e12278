"""A poll that does not return makes the worker unhealthy (so the service goes NOT_SERVING and its supervisor
restarts it), and healthy again once it returns. The Kafka client is the one thing faked here: a real broker
does not hang on demand (kafka-python 3 has been seen to, dpkp/kafka-python#3121)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.platform import runner as runner_module
from services.platform.runner import Source, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store


class HangingConsumer:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.polls = 0

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def subscribe(self, topics: list[str], listener: object = None) -> None:
        pass

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.polls += 1
        if self.polls == 2:  # the second poll hangs until released
            self.release.wait(30)
        else:
            time.sleep(timeout_ms / 1000)
        return {}

    def assignment(self) -> set:
        return set()

    def close(self, autocommit: bool = False) -> None:
        pass


class IdleProducer:
    def close(self, timeout: float | None = None) -> None:
        pass


def wait_until(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_poll_that_does_not_return_makes_the_worker_unhealthy_until_it_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = HangingConsumer()
    monkeypatch.setattr(runner_module, "make_consumer", lambda _settings, _group: consumer)
    monkeypatch.setattr(runner_module, "make_producer", lambda _settings, **_kw: IdleProducer())
    settings = Settings(data_dir=tmp_path, stuck_batch_seconds=1.0, poll_timeout_ms=50)
    store = Store.open(tmp_path / "w.sqlite")
    worker = StreamRunner(settings, "probe", [Source("t", bytes, lambda _v: None)], handler=None,  # type: ignore[arg-type]
                          store=store, registry=CollectorRegistry())
    worker.start()
    try:
        assert wait_until(lambda: consumer.polls >= 2)
        assert worker.is_healthy()  # a poll in progress is normal ...
        assert wait_until(lambda: not worker.is_healthy())  # ... one that outlives the stuck limit is not
        consumer.release.set()
        assert wait_until(lambda: consumer.polls >= 3 and worker.is_healthy())
    finally:
        worker.stop()
        worker.join(10)
        store.close()
    assert not worker.is_alive()
