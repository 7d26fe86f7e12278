"""A poll that does not return makes the worker unhealthy (so the service goes NOT_SERVING and its supervisor
restarts it), and healthy again once it returns; one that stays stuck gets the consumer made again in place. The
Kafka client is the one thing faked here: a real broker does not hang on demand (kafka-python 3 has been seen to,
dpkp/kafka-python#3121; the replica process test restarts a real broker under several workers)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from services.platform import runner as runner_module
from services.platform.runner import Source, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store


class HangingConsumer:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.polls = 0

    def subscribe(self, topics: list[str], **callbacks: object) -> None:
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

    def abort(self) -> None:
        pass

    def close(self) -> None:
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
    monkeypatch.setattr(runner_module, "open_consumer", lambda _settings, _group: consumer)
    monkeypatch.setattr(runner_module, "open_producer", lambda _settings, **_kw: IdleProducer())
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


class StuckConsumer(HangingConsumer):
    """The second poll never returns by itself, as seen after a broker restart, until the consumer is aborted (the
    seam's `abort`: kafka-python's close stops its IO loop, which fails the poll's wait)."""

    def __init__(self, stuck: bool) -> None:
        super().__init__()
        self.stuck = stuck
        self.loop_stopped = threading.Event()
        self.closed = threading.Event()

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.polls += 1
        if self.stuck and self.polls == 2 and self.loop_stopped.wait(30):
            raise KafkaConnectionError("Event loop stopped")
        time.sleep(timeout_ms / 1000)
        return {}

    def abort(self) -> None:
        self.loop_stopped.set()

    def close(self) -> None:
        self.closed.set()


def test_a_poll_stuck_for_good_gets_the_consumer_made_again_without_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[StuckConsumer] = []

    def make_consumer(_settings: Settings, _group: str) -> StuckConsumer:
        made.append(StuckConsumer(stuck=not made))
        return made[-1]

    monkeypatch.setattr(runner_module, "open_consumer", make_consumer)
    monkeypatch.setattr(runner_module, "open_producer", lambda _settings, **_kw: IdleProducer())
    monkeypatch.setattr(runner_module, "POLL_STALL_SECONDS", 1.0)
    settings = Settings(data_dir=tmp_path, stuck_batch_seconds=60.0, poll_timeout_ms=50)
    store = Store.open(tmp_path / "w.sqlite")
    worker = StreamRunner(settings, "probe", [Source("t", bytes, lambda _v: None)], handler=None,  # type: ignore[arg-type]
                          store=store, registry=CollectorRegistry())
    worker.start()
    try:
        assert wait_until(lambda: len(made) == 2 and made[1].polls >= 3)  # a new consumer, polling on
        assert made[0].loop_stopped.is_set() and made[0].closed.wait(5)  # the stuck one stopped and closed
        assert worker.is_alive() and worker.is_healthy() and worker.consumers_rebuilt == 1
    finally:
        worker.stop()
        worker.join(10)
        store.close()
    assert not worker.is_alive()
