"""Produce the simulated bank to Kafka: profiles to the compacted `customers` topic, then transactions to
`transactions`, both keyed by customer id (UTF-8), values `SerializeToString()`.

The Kafka record timestamp is left to the producer (produce time): services measure time-to-notify from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message

from services.platform import topics
from services.platform.kafka_io import make_producer
from services.platform.settings import Settings
from services.simulator import events
from services.simulator.bank import Bank

log = logging.getLogger(__name__)
PROGRESS_EVERY = 100_000


class Producer(Protocol):
    """The part of ``kafka.KafkaProducer`` used here (a fake in unit tests)."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class ProduceResult:
    topic: str
    records: int
    seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class _Pacer:
    """Holds the send loop to ``rate`` records a second on average (no pacing when ``rate`` is None)."""

    def __init__(self, rate: float | None, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.start = clock()

    def wait(self, sent: int) -> None:
        if self.rate is None:
            return
        ahead = self.start + sent / self.rate - self.clock()
        if ahead > 0:
            self.sleep(ahead)


def send_all(
    producer: Producer,
    topic: str,
    messages: Iterable[tuple[str, Message]],
    rate: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProduceResult:
    """Send (key, message) pairs to ``topic``, paced at ``rate`` records/s or as fast as possible, then flush.

    Raises the first failed send after the flush.
    """
    failures: list[BaseException] = []
    pacer = _Pacer(rate, clock, sleep)
    started = clock()
    sent = 0
    for key, message in messages:
        pacer.wait(sent)
        future = producer.send(topic, value=message.SerializeToString(), key=key.encode("utf-8"))
        if hasattr(future, "add_errback"):
            future.add_errback(failures.append)
        sent += 1
        if sent % PROGRESS_EVERY == 0:
            log.info("%s: %d records sent", topic, sent)
    producer.flush()
    if failures:
        raise RuntimeError(f"{len(failures)} sends to {topic} failed; first: {failures[0]!r}")
    return ProduceResult(topic, sent, clock() - started)


def make_kafka_producer(settings: Settings) -> Producer:
    """The platform's producer (acks=all, idempotent, linger 5 ms)."""
    return make_producer(settings)  # type: ignore[return-value]


def produce_bank(
    bank: Bank,
    settings: Settings,
    rate: float | None = None,
    limit: int | None = None,
    producer: Producer | None = None,
) -> list[ProduceResult]:
    """Profiles (as fast as possible), then up to ``limit`` transactions at ``rate`` records/s."""
    producer = producer or make_kafka_producer(settings)
    profiles = ((p.customer_id, p) for p in events.profiles(bank))
    results = [send_all(producer, settings.topic(topics.CUSTOMERS), profiles)]
    transactions = ((tx.customer_id, tx) for tx in events.transactions(bank, 0, limit))
    results.append(send_all(producer, settings.topic(topics.TRANSACTIONS), transactions, rate=rate))
    return results
