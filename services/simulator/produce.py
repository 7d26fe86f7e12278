"""Produce the simulated bank to Kafka: profiles to the compacted `customers` topic, then transactions to
`transactions`, with each fraudulent card payment's chargeback to `fraud-feedback` once the replay passes its due
time (7 days later: the labels a fraud model learns from), all keyed by customer id (UTF-8),
values `SerializeToString()`.

The Kafka record timestamp is left to the producer (produce time): services measure time-to-notify from it.

A broker that goes away (restarted, `kill -9`) does not stall the replay: a record whose send fails or times out
is re-sent, in its original order, after a capped exponential backoff with jitter on a fresh producer; what still
fails after `RetryPolicy.attempts` re-sends is logged and counted (`ProduceResult.failed`), and the replay goes on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import Message

from services.gen.proactivecare.v1 import events_pb2
from services.platform import topics
from services.platform.kafka_io import make_producer
from services.platform.progress import Progress
from services.platform.settings import Settings
from services.simulator import events
from services.simulator.bank import Bank

log = logging.getLogger(__name__)
CHARGEBACK_DELAY_DAYS = 7.0  # the Handbook's: a fraud's label is known a week after the payment


class Producer(Protocol):
    """The part of ``kafka.KafkaProducer`` used here (a fake in unit tests)."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class ProduceResult:
    topic: str
    records: int
    seconds: float
    failed: int = 0  # records still undelivered after every re-send (each logged)

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


@dataclass(frozen=True)
class RetryPolicy:
    """How failed sends are re-sent: up to `attempts` rounds, waiting a random [d/2, d] before round n,
    d = min(`max_backoff`, `backoff` * 2**n); each flush waits at most `flush_timeout` seconds."""

    attempts: int = 10
    backoff: float = 0.5
    max_backoff: float = 15.0
    flush_timeout: float = 60.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2 ** min(attempt, 30))
        return ceiling / 2 + random.random() * ceiling / 2


class _Delivery:
    """Sends records and keeps each one until the broker acknowledged it, so those that fail can be re-sent."""

    def __init__(self, producer: Producer, renew: Callable[[], Producer] | None, policy: RetryPolicy,
                 sleep: Callable[[float], None]) -> None:
        self.producer: Producer | None = producer
        self.renew, self.policy, self.sleep = renew, policy, sleep
        self.unacked: dict[int, tuple[str, bytes, bytes]] = {}  # sequence number -> (topic, key, value)
        self.failed: dict[int, BaseException] = {}  # written from the producer's IO thread
        self.undelivered: dict[str, int] = {}  # per topic, given up on
        self._lock = threading.Lock()

    def send(self, seq: int, topic: str, key: bytes, value: bytes) -> None:
        self.unacked[seq] = (topic, key, value)
        if self.producer is None:
            self._failed(seq, RuntimeError("no producer (the broker was unreachable)"))
            return
        try:
            future = self.producer.send(topic, value=value, key=key)
        except Exception as exc:  # KafkaTimeoutError: no metadata or no buffer space within max_block_ms
            self._failed(seq, exc)
            return
        if hasattr(future, "add_callback"):
            future.add_callback(lambda _meta: self.unacked.pop(seq, None))
        if hasattr(future, "add_errback"):
            future.add_errback(lambda exc: self._failed(seq, exc))

    def _failed(self, seq: int, exc: BaseException) -> None:
        with self._lock:
            self.failed[seq] = exc

    def settle(self) -> None:
        """Flush: afterwards every record sent so far is acknowledged or failed."""
        if self.producer is None:
            return
        try:
            self.producer.flush(timeout=self.policy.flush_timeout)
        except Exception as exc:  # a flush that does not end: give up this producer, its records fail
            log.warning("flush failed (%r): dropping the producer", exc)
            self._drop_producer()
            # kafka-python's close does not fail what the producer still held (their futures never resolve):
            # every record not acknowledged by now is re-sent (a late acknowledgement makes a duplicate record,
            # which consumers dedupe on its id; a silent loss is not acceptable)
            with self._lock:
                for seq in list(self.unacked):
                    self.failed.setdefault(seq, exc)

    def _drop_producer(self) -> None:
        old, self.producer = self.producer, None
        if old is not None:
            try:
                old.close(timeout=0)  # fails what it still holds, so it is re-sent
            except Exception as exc:
                log.info("closing the failed producer: %r", exc)

    def recover(self) -> None:
        """Re-send what failed, in the original order, until it is delivered or the attempts are spent."""
        for attempt in range(self.policy.attempts + 1):
            self.settle()
            with self._lock:
                failed, self.failed = self.failed, {}
            if not failed:
                return
            first = failed[min(failed)]
            if attempt == self.policy.attempts:
                for seq in failed:
                    record = self.unacked.pop(seq, None)
                    if record is not None:
                        self.undelivered[record[0]] = self.undelivered.get(record[0], 0) + 1
                log.error("%d records NOT delivered after %d re-sends (first error: %r); going on", len(failed),
                          attempt, first)
                return
            delay = self.policy.delay(attempt)
            log.warning("%d records not delivered (%r); re-sending them in %.1f s (attempt %d of %d)", len(failed),
                        first, delay, attempt + 1, self.policy.attempts)
            self.sleep(delay)
            if self.renew is not None:
                self._drop_producer()
                try:
                    self.producer = self.renew()
                except Exception as exc:  # the broker is still away
                    log.warning("no new producer yet: %r", exc)
            for seq in sorted(failed):
                record = self.unacked.get(seq)
                if record is not None:  # else acknowledged late, after all
                    self.send(seq, *record)


def send_all(
    producer: Producer,
    messages: Iterable[tuple[str, str, Message]],
    rate: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    renew: Callable[[], Producer] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    total: int | None = None,
) -> list[ProduceResult]:
    """Send (topic, key, message) triples in order, paced at ``rate`` records/s or as fast as possible, then flush.
    One result per topic, in the order each topic first appeared.

    A failed send is re-sent (see `_Delivery.recover`; on a new producer from ``renew`` when given) before the
    next record goes out; records given up on are counted in the results' ``failed``, not raised.
    """
    delivery = _Delivery(producer, renew, policy, sleep)
    pacer = _Pacer(rate, clock, sleep)
    started = clock()
    counts: dict[str, int] = {}
    with Progress("produced", total) as progress:
        for sent, (topic, key, message) in enumerate(messages):
            pacer.wait(sent)
            delivery.send(sent, topic, key.encode("utf-8"), message.SerializeToString())
            if delivery.failed:
                delivery.recover()
            counts[topic] = counts.get(topic, 0) + 1
            progress.update()
    delivery.recover()  # flushes, then re-sends what failed at the end
    seconds = clock() - started
    if delivery.undelivered:
        log.error("undelivered records per topic: %s", delivery.undelivered)
    return [ProduceResult(topic, n, seconds, delivery.undelivered.get(topic, 0)) for topic, n in counts.items()]


def make_kafka_producer(settings: Settings) -> Producer:
    """The platform's producer (acks=all, idempotent, linger 5 ms), failing a send within seconds rather than
    minutes when the broker is away, so it is re-sent soon after the broker is back."""
    return make_producer(settings, max_block_ms=10_000, request_timeout_ms=10_000,  # type: ignore[return-value]
                         delivery_timeout_ms=30_000)


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
    renew = None if producer is not None else (lambda: make_kafka_producer(settings))
    producer = producer or make_kafka_producer(settings)
    customers, txs, feedback = (settings.topic(t) for t in (topics.CUSTOMERS, topics.TRANSACTIONS,
                                                             topics.FRAUD_FEEDBACK))
    results = send_all(producer, ((customers, p.customer_id, p) for p in events.profiles(bank)), renew=renew)
    due = [] if chargeback_delay_days is None else events.chargebacks(bank, chargeback_delay_days)
    replay = {r.topic: r for r in send_all(producer, with_chargebacks(events.transactions(bank, 0, limit), due, txs,
                                                                       feedback), rate=rate, renew=renew)}
    return [*results, *(replay.get(t) or ProduceResult(t, 0, 0.0) for t in (txs, feedback))]
