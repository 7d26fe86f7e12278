"""The stream runner: the only consumer loop in the project.

poll a batch -> decode -> validate -> skip already-processed events -> hand the batch to the service's handler
(inside one store transaction that also records the processed event ids and their outputs) -> produce outputs
and dead letters -> flush -> commit offsets (last + 1). A record that cannot be decoded, fails validation, or
makes the handler fail on its own goes to `<topic>.dlq` with the reason in headers, and the loop goes on.
SIGTERM (`stop()`) finishes the batch in hand, commits, and exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from google.protobuf.message import DecodeError, Message
from kafka import KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry

from services.platform.errors import ValidationError
from services.platform.kafka_io import (
    Output,
    decode_outputs,
    encode_outputs,
    make_consumer,
    make_producer,
    produce_all,
)
from services.platform.metrics import StreamMetrics
from services.platform.settings import Settings
from services.platform.storage import Store, Tx, claim_events, prune_processed, save_outputs, stored_outputs
from services.platform.topics import dlq

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 2.0
PRUNE_INTERVAL_SECONDS = 600.0
COMMIT_IN_FLIGHT_SECONDS = 10.0  # an async commit unanswered this long is taken as lost


class Record(NamedTuple):
    """A decoded, validated record handed to a handler (a tuple: cheap to build for every record)."""

    topic: str
    partition: int
    offset: int
    key: str
    event_id: str
    value: Any  # the decoded protobuf message
    timestamp_ms: int  # the Kafka record timestamp (produce time)


@dataclass(frozen=True)
class Source:
    """A topic a worker reads: how to decode, validate and identify its records."""

    topic: str
    decode: Callable[[bytes], Message]
    validate: Callable[[Any], None] = lambda _value: None
    # The event id effects dedupe on; by default the record's position, which is stable across redelivery.
    event_id: Callable[[Any, ConsumerRecord], str] = field(
        default=lambda _value, rec: f"{rec.partition}:{rec.offset}"
    )


class Handler(Protocol):
    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        """Apply the batch's effects through `tx`; return the outputs of each event id.

        A handler may also define `committed(records)`, called after the store transaction committed
        (e.g. to wake up subscribers waiting for what the batch stored).
        """
        ...


class _CommitOnRevoke(AsyncConsumerRebalanceListener):
    """Commit what was processed before partitions move to another worker.

    kafka-python 3 runs rebalance listeners on its IO thread, where a blocking `commit()` is refused; the
    coordinator's awaitable synchronous commit is the documented way to do IO there."""

    def __init__(self, runner: StreamRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        offsets = self.runner.offsets_of(revoked)
        consumer = self.runner._consumer
        if offsets and consumer is not None:
            await consumer._coordinator._commit_offsets_sync_async(offsets)
        self.runner.forget(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s assigned %s", self.runner.service, sorted((tp.topic, tp.partition) for tp in assigned))


class StreamRunner:
    def __init__(
        self,
        settings: Settings,
        service: str,
        sources: Sequence[Source],
        handler: Handler,
        store: Store,
        registry: CollectorRegistry,
        *,
        name: str = "worker",
        group_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.name = name
        self.sources = {s.topic: s for s in sources}
        self.handler = handler
        self.store = store
        self.group_id = group_id or settings.group_id(f"{service}.{name}")
        self.metrics = StreamMetrics.create(registry)
        self._stop = threading.Event()
        self._processed: dict[TopicPartition, OffsetAndMetadata] = {}  # next offset to read, per partition
        self._thread: threading.Thread | None = None
        self.batch_started_at: float | None = None  # set while a batch is in hand (stuck detection)
        self.poll_started_at: float | None = None  # set while waiting in poll (stuck detection)
        self._commit_sent_at: float | None = None  # set while an async commit is in flight
        self._commit_skipped = False  # a batch's offsets wait for the commit in flight to answer
        self.failure: BaseException | None = None
        self.ready = threading.Event()  # set once the group has assigned partitions
        self._consumer = None
        self._producer: KafkaProducer | None = None
        for topic in self.sources:
            self.metrics.consumed.labels(service, topic)
            self.metrics.handled.labels(service, topic)

    # ---- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._run_guarded, name=f"{self.service}-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and exit (what SIGTERM does)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_healthy(self) -> bool:
        """False when the thread died, or a batch has been in hand, or a poll has not returned, for longer than
        the stuck limit. (A poll returns within its timeout; kafka-python 3 has been seen waiting forever on a
        fetch, dpkp/kafka-python#3121: NOT_SERVING lets the supervisor restart the process.)"""
        if not self.is_alive():
            return False
        now, limit = time.monotonic(), self.settings.stuck_batch_seconds
        return all(started is None or now - started < limit for started in (self.batch_started_at,
                                                                           self.poll_started_at))

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # the health check reports NOT_SERVING; the process supervisor restarts
            self.failure = exc
            log.exception("%s %s stopped on an error", self.service, self.name)

    def run(self) -> None:
        consumer = make_consumer(self.settings, self.group_id)
        self._consumer = consumer
        self._producer = make_producer(self.settings)
        try:
            for topic in self.sources:  # know every topic's partitions before joining: an assignment made
                consumer.partitions_for_topic(topic)  # without them stays empty until the next metadata refresh
            consumer.subscribe(list(self.sources), listener=_CommitOnRevoke(self))
            last_lag = last_prune = 0.0
            while not self._stop.is_set():
                self.poll_started_at = time.monotonic()
                polled = consumer.poll(timeout_ms=self.settings.poll_timeout_ms,
                                       max_records=self.settings.poll_max_records)
                self.poll_started_at = None
                if consumer.assignment():
                    self.ready.set()
                if polled:
                    self.process(polled)
                elif self._commit_skipped:  # idle now: commit what a busy moment left uncommitted
                    self._commit_async()
                now = time.monotonic()
                if now - last_lag > LAG_INTERVAL_SECONDS:
                    self._update_lag()
                    last_lag = now
                if now - last_prune > PRUNE_INTERVAL_SECONDS:
                    with self.store.transaction() as tx:
                        prune_processed(tx, self.group_id, self.settings.processed_retention_hours)
                    last_prune = now
            self.commit_pending()
        finally:
            consumer.close(autocommit=False)
            self._producer.close(timeout=10)

    # ---- one batch --------------------------------------------------------------------------------------

    def process(self, polled: Mapping[TopicPartition, list[ConsumerRecord]]) -> None:
        self.batch_started_at = time.monotonic()
        records: list[Record] = []
        dead: list[Output] = []
        for tp, messages in polled.items():
            if not messages:
                continue
            source = self.sources[tp.topic]
            self.metrics.consumed.labels(self.service, tp.topic).inc(len(messages))
            self._processed[tp] = OffsetAndMetadata(messages[-1].offset + 1, "", -1)
            decode, validate, event_id = source.decode, source.validate, source.event_id
            for msg in messages:
                try:
                    value = decode(msg.value)
                    validate(value)
                    eid = f"{tp.topic}/{event_id(value, msg)}"
                except ValidationError as exc:
                    dead.append(self._dead_letter(msg, exc.reason, str(exc)))
                    continue
                except (DecodeError, ValueError, TypeError) as exc:
                    dead.append(self._dead_letter(msg, "undecodable", f"{type(exc).__name__}: {exc}"))
                    continue
                key = msg.key.decode(errors="replace") if msg.key else ""
                records.append(Record(tp.topic, tp.partition, msg.offset, key, eid, value, msg.timestamp))

        outputs = self._apply(records, dead)
        assert self._producer is not None
        produce_all(self._producer, [*dead, *outputs])
        self._commit_async()
        self.metrics.batch_seconds.labels(self.service).observe(time.monotonic() - self.batch_started_at)
        self.metrics.last_processed.labels(self.service).set(time.time())
        self.batch_started_at = None

    def _apply(self, records: list[Record], dead: list[Output]) -> list[Output]:
        """Run the handler on the records not yet processed; return every output to produce."""
        try:
            return self._apply_in_one_transaction(records)
        except Exception:
            log.exception("%s: batch of %d failed; retrying record by record", self.service, len(records))
        outputs: list[Output] = []
        for record in records:
            try:
                outputs += self._apply_in_one_transaction([record])
            except Exception as exc:
                msg = _RecordView(record)
                dead.append(self._dead_letter(msg, "handler_error", f"{type(exc).__name__}: {exc}"))
        return outputs

    def _apply_in_one_transaction(self, records: list[Record]) -> list[Output]:
        consumer_name = self.group_id
        with self.store.transaction() as tx:
            unique = list(dict.fromkeys(r.event_id for r in records))
            new_ids = claim_events(tx, consumer_name, unique)
            fresh: dict[str, Record] = {}
            for r in records:
                if r.event_id in new_ids and r.event_id not in fresh:
                    fresh[r.event_id] = r
            result = self.handler.handle(list(fresh.values()), tx) if fresh else {}
            produced = [(eid, encode_outputs(outs)) for eid, outs in result.items() if outs and eid in fresh]
            save_outputs(tx, consumer_name, produced)
            replayed = stored_outputs(tx, consumer_name, (e for e in unique if e not in new_ids))
        committed = getattr(self.handler, "committed", None)
        if fresh and committed is not None:
            committed(list(fresh.values()))
        self._count(records, fresh)
        outputs: list[Output] = []
        for blob in replayed:
            outputs += decode_outputs(blob)
        for eid in fresh:
            outputs += result.get(eid, ())
        return outputs

    def _count(self, records: list[Record], fresh: dict[str, Record]) -> None:
        handled: Counter[str] = Counter()
        replayed: Counter[str] = Counter()
        for r in records:
            (handled if fresh.get(r.event_id) is r else replayed)[r.topic] += 1
        for topic, n in handled.items():
            self.metrics.handled.labels(self.service, topic).inc(n)
        for topic, n in replayed.items():
            self.metrics.replayed.labels(self.service, topic).inc(n)

    def _dead_letter(self, msg: ConsumerRecord | _RecordView, reason: str, error: str) -> Output:
        self.metrics.dead_lettered.labels(self.service, msg.topic, reason).inc()
        log.warning("%s: dead letter %s[%d]@%d: %s", self.service, msg.topic, msg.partition, msg.offset, error)
        headers = (
            ("dlq.reason", reason.encode()),
            ("dlq.error", error[:1000].encode()),
            ("dlq.service", self.service.encode()),
            ("dlq.source.topic", msg.topic.encode()),
            ("dlq.source.partition", str(msg.partition).encode()),
            ("dlq.source.offset", str(msg.offset).encode()),
            ("dlq.failed_at_ms", str(int(time.time() * 1000)).encode()),
        )
        key = msg.key.decode(errors="replace") if isinstance(msg.key, bytes) else (msg.key or "")
        return Output(dlq(msg.topic), key, msg.value or b"", headers)

    # ---- offsets ----------------------------------------------------------------------------------------

    def offsets_of(self, partitions: set[TopicPartition]) -> dict[TopicPartition, OffsetAndMetadata]:
        return {tp: om for tp, om in self._processed.items() if tp in partitions}

    def commit_pending(self) -> None:
        """Synchronous commit of everything processed (on stop, from the worker thread)."""
        consumer = self._consumer
        if consumer is not None:
            offsets = self.offsets_of(consumer.assignment())
            if offsets:
                consumer.commit(offsets=offsets)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Partitions that left this worker: their offsets are another worker's to commit from now on."""
        for tp in partitions:
            self._processed.pop(tp, None)

    def _commit_async(self) -> None:
        """After a batch, once its outputs are flushed, unless the previous commit is still in flight (the next
        batch commits the newer offsets): small batches at a live rate would otherwise queue commits on the
        connection until it stops taking requests (`NodeNotReadyError: max_in_flight`), fetches included.
        A lost async commit only means redelivery, which the processed-events record makes harmless; stop and
        revoke commit synchronously."""
        if not self._processed or self._consumer is None:
            return
        now = time.monotonic()
        if self._commit_sent_at is not None and now - self._commit_sent_at < COMMIT_IN_FLIGHT_SECONDS:
            self._commit_skipped = True
            return
        self._commit_sent_at, self._commit_skipped = now, False
        self._consumer.commit_async(offsets=dict(self._processed), callback=self._on_commit)

    def _on_commit(self, offsets: object, response: object) -> None:
        self._commit_sent_at = None
        if isinstance(response, Exception):
            log.warning("%s: offset commit failed (the batch will be redelivered, harmlessly): %s",
                        self.service, response)

    def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = consumer.position(tp, timeout_ms=1000)
            if position is not None:
                self.metrics.lag.labels(self.service, tp.topic, str(tp.partition)).set(max(0, end - position))


class _RecordView:
    """The parts of a failed record a dead letter needs, rebuilt from a decoded Record."""

    def __init__(self, record: Record) -> None:
        self.topic = record.topic
        self.partition = record.partition
        self.offset = record.offset
        self.key = record.key.encode()
        self.value = record.value.SerializeToString()
