"""Produce the simulated bank to Kafka: profiles to the compacted `customers` topic, then transactions to
`transactions`, with each fraudulent card payment's chargeback to `fraud-feedback` once the replay passes its due
time (7 days later: the labels a fraud model learns from), all keyed by customer id (UTF-8),
values `SerializeToString()`.

The Kafka record timestamp is left to the producer (produce time): services measure time-to-notify from it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message

from services.gen.proactivecare.v1 import events_pb2
from services.platform import topics
from services.platform.kafka_io import make_producer
from services.platform.settings import Settings
from services.simulator import events
from services.simulator.bank import Bank

log = logging.getLogger(__name__)
PROGRESS_EVERY = 100_000
CHARGEBACK_DELAY_DAYS = 7.0  # the Handbook's: a fraud's label is known a week after the payment


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
    messages: Iterable[tuple[str, str, Message]],
    rate: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ProduceResult]:
    """Send (topic, key, message) triples in order, paced at ``rate`` records/s or as fast as possible, then flush.
    One result per topic, in the order each topic first appeared.

    Raises the first failed send after the flush.
    """
    failures: list[BaseException] = []
    pacer = _Pacer(rate, clock, sleep)
    started = clock()
    counts: dict[str, int] = {}
    for sent, (topic, key, message) in enumerate(messages):
        pacer.wait(sent)
        future = producer.send(topic, value=message.SerializeToString(), key=key.encode("utf-8"))
        if hasattr(future, "add_errback"):
            future.add_errback(failures.append)
        counts[topic] = counts.get(topic, 0) + 1
        if (sent + 1) % PROGRESS_EVERY == 0:
            log.info("%d records sent", sent + 1)
    producer.flush()
    if failures:
        raise RuntimeError(f"{len(failures)} sends failed; first: {failures[0]!r}")
    seconds = clock() - started
    return [ProduceResult(topic, n, seconds) for topic, n in counts.items()]


def make_kafka_producer(settings: Settings) -> Producer:
    """The platform's producer (acks=all, idempotent, linger 5 ms)."""
    return make_producer(settings)  # type: ignore[return-value]


def with_chargebacks(transactions: Iterable[events_pb2.Transaction],
                     chargebacks: list[tuple[int, events_pb2.FraudFeedback]], tx_topic: str,
                     feedback_topic: str) -> Iterator[tuple[str, str, Message]]:
    """Transactions in time order, each chargeback sent just before the first transaction at or after its due
    time (a replay cut short by a limit sends only the chargebacks due by then)."""
    pending = 0
    for tx in transactions:
        while pending < len(chargebacks) and chargebacks[pending][0] <= tx.timestamp.seconds:
            feedback = chargebacks[pending][1]
            yield feedback_topic, feedback.customer_id, feedback
            pending += 1
        yield tx_topic, tx.customer_id, tx


def produce_bank(
    bank: Bank,
    settings: Settings,
    rate: float | None = None,
    limit: int | None = None,
    producer: Producer | None = None,
    chargeback_delay_days: float | None = CHARGEBACK_DELAY_DAYS,
) -> list[ProduceResult]:
    """Profiles (as fast as possible), then up to ``limit`` transactions at ``rate`` records/s with the
    chargebacks due meanwhile (none when ``chargeback_delay_days`` is None). Results: customers, transactions,
    fraud-feedback."""
    producer = producer or make_kafka_producer(settings)
    customers, txs, feedback = (settings.topic(t) for t in (topics.CUSTOMERS, topics.TRANSACTIONS,
                                                             topics.FRAUD_FEEDBACK))
    results = send_all(producer, ((customers, p.customer_id, p) for p in events.profiles(bank)))
    due = [] if chargeback_delay_days is None else events.chargebacks(bank, chargeback_delay_days)
    replay = {r.topic: r for r in send_all(producer, with_chargebacks(events.transactions(bank, 0, limit), due, txs,
                                                                       feedback), rate=rate)}
    return [*results, *(replay.get(t) or ProduceResult(t, 0, 0.0) for t in (txs, feedback))]
