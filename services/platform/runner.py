"""The stream runner: the only consumer loop in the project.

poll a batch -> decode -> validate -> skip already-processed events -> hand the batch to the service's handler
(inside one store transaction that also records what was processed - each event id, or each partition's next
offset (`Source.dedupe`) - and the outputs) -> produce outputs and dead letters -> flush -> commit offsets
(last + 1). A record that cannot be decoded, fails validation, or
makes the handler fail again when handled on its own goes to `<topic>.dlq` with the reason in headers, and the
loop goes on.

A transient failure (`errors.is_transient`: database locked or unreachable, serialization failure, broker or
producer time-out) is not the record's fault: nothing is committed or dead-lettered, the consumer is rewound to
the batch's first offsets and the batch is tried again after a capped exponential backoff with jitter; the worker
reports NOT_SERVING only once such failures have lasted `transient_unhealthy_seconds`. Partitions revoked in a
rebalance get their processed offsets committed; partitions LOST (the group moved on without us, e.g. after a
broker restart) get nothing committed, and the worker goes on with what the group assigns next.
The Kafka client is the kernel's seam (`kafka_client.py`: kafka-python or confluent-kafka, `KAFKA_CLIENT`); the
runner uses only its interface. A consumer that stalls is made again in place, without a process restart:
kafka-python 3.0.12 was seen after a broker restart with `poll()` blocked for good (its IO loop no longer answering
the poll's wait), or polling on and fetching nothing while its partitions had records. A watchdog thread aborts the
stalled consumer (`Consumer.abort()`: kafka-python's public close, which stops its IO loop, so the blocked poll
raises), and the worker closes it, forgets its partitions (nothing is committed for them: they
are taken as lost) and joins the group with a new consumer, which resumes from the committed offsets.
SIGTERM (`stop()`) finishes the batch in hand, commits, and exits.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal, NamedTuple, Protocol

from google.protobuf.message import DecodeError, Message
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from services.platform import tracing
from services.platform.errors import ValidationError, is_transient
from services.platform.kafka_client import Consumer, Producer, TopicPartition, open_consumer, open_producer
from services.platform.kafka_io import Output, decode_outputs, encode_outputs, produce_all
from services.platform.metrics import StreamMetrics
from services.platform.pan import may_any_hold_pan, may_hold_pan, redact_bytes, redact_message, redact_text
from services.platform.settings import Settings
from services.platform.storage import (
    Store,
    Tx,
    claim_events,
    claim_offsets,
    prune_processed,
    save_outputs,
    stored_outputs,
)
from services.platform.topics import dlq
from services.platform.validation import event_times_within, validate_event_time

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 2.0
PRUNE_INTERVAL_SECONDS = 600.0
COMMIT_IN_FLIGHT_SECONDS = 10.0  # an async commit unanswered this long is taken as lost
# A poll returns within its timeout (at most a second here) in kafka-python 3, a group join included: one still in
# progress after this long is stuck. Polls that return nothing this long while the partitions have records to fetch
# are stuck too.
POLL_STALL_SECONDS = 30.0
FETCH_STALL_SECONDS = 30.0


_VALUE, _OFFSET, _TOPIC, _EVENT_ID = (attrgetter(f) for f in ("value", "offset", "topic", "event_id"))
_TOPIC_PARTITION = attrgetter("topic", "partition")


class Record(NamedTuple):
    """A decoded, validated record handed to a handler (a tuple: cheap to build for every record)."""

    topic: str
    partition: int
    offset: int
    key: str
    event_id: str
    value: Any  # the decoded protobuf message
    timestamp_ms: int  # the Kafka record timestamp (produce time)
    headers: Any = None  # the Kafka record headers (where a producer put its trace context)
    span: Any = None  # while tracing is on: this record's processing span (its outputs become its children)


@dataclass(frozen=True)
class Source:
    """A topic a worker reads: how to decode, validate and identify its records."""

    topic: str
    decode: Callable[[bytes], Message]
    validate: Callable[[Any], None] = lambda _value: None
    # The event id effects dedupe on; by default the record's position, which is stable across redelivery.
    # `rec`: the consumed record (topic, partition, offset, key, value, timestamp, headers)
    event_id: Callable[[Any, Any], str] = field(
        default=lambda _value, rec: f"{rec.partition}:{rec.offset}"
    )
    # How a redelivered record is recognised (both in the batch's store transaction):
    # - EVENT: one processed-events row per record, claimed by its event id. The same event at another offset (a
    #   producer's retry, outputs produced again upstream, a topic replayed) is recognised too.
    # - OFFSET: each partition's next offset (one `stream_offsets` row per partition per batch, no per-record
    #   write). A record below it is a redelivery (a restart, a rebalance, a batch retried); the same event at
    #   another offset is handled again, so the handler's effects must be idempotent by the event's id (inserts
    #   keyed by it, upserts). Outputs are still stored by event id, to produce again on redelivery.
    dedupe: Literal["event", "offset"] = "event"
    # Whether every value of a partition's batch passes `validate` (C-level passes over the batch, e.g.
    # `validation.transactions_valid`); False sends the batch to `validate` record by record, which names the field.
    validate_batch: Callable[[Sequence[Any]], bool] | None = None


class Handler(Protocol):
    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        """Apply the batch's effects through `tx`; return the outputs of each event id.

        A handler may also define `committed(records)`, called after the store transaction committed
        (e.g. to wake up subscribers waiting for what the batch stored).
        """
        ...


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
        self._event_time_floor = datetime.fromisoformat(settings.event_time_floor).timestamp()
        self.service = service
        self.name = name
        self.sources = {s.topic: s for s in sources}
        self._by_offset = frozenset(s.topic for s in sources if s.dedupe == "offset")
        self.handler = handler
        self.store = store
        self.group_id = group_id or settings.group_id(f"{service}.{name}")
        self.metrics = StreamMetrics.create(registry)
        self._stop = threading.Event()
        self._processed: dict[TopicPartition, int] = {}  # next offset to read, per partition
        self._thread: threading.Thread | None = None
        self.batch_started_at: float | None = None  # set while a batch is in hand (stuck detection)
        self.poll_started_at: float | None = None  # set while waiting in poll (stuck detection)
        self._commit_sent_at: float | None = None  # set while an async commit is in flight
        self._commit_skipped = False  # a batch's offsets wait for the commit in flight to answer
        self.failure: BaseException | None = None
        self.failing_since: float | None = None  # set while transient failures go on (health after a limit)
        self._attempt = 0  # transient failures in a row (the backoff's exponent)
        self._retrying_batch = False  # a batch was rewound after a transient failure and is not yet done
        self._last_lag = self._last_prune = 0.0
        self.ready = threading.Event()  # set once the group has assigned partitions
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._stalled = threading.Event()  # the consumer in hand is stuck: make a new one
        self._running = threading.Event()  # set while run() runs (its watchdog watches as long)
        self._last_fetch = time.monotonic()  # when a poll last returned records (or nothing was left to fetch)
        self.consumers_rebuilt = 0
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
        failing = self.failing_since
        if failing is not None and now - failing >= self.settings.transient_unhealthy_seconds:
            return False
        return all(started is None or now - started < limit for started in (self.batch_started_at,
                                                                           self.poll_started_at))

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # the health check reports NOT_SERVING; the process supervisor restarts
            self.failure = exc
            log.exception("%s %s stopped on an error", self.service, self.name)

    def run(self) -> None:
        watchdog = threading.Thread(target=self._watch, name=f"{self.service}-{self.name}-watchdog", daemon=True)
        self._running.set()
        try:
            consumer = self._connect()
            watchdog.start()
            while consumer is not None:
                try:
                    self._consume(consumer)
                finally:
                    if self._stalled.is_set():
                        self._abandon(consumer)
                    else:
                        consumer.close()
                consumer = self._rebuild() if self._stalled.is_set() and not self._stop.is_set() else None
        finally:
            self._running.clear()
            if self._producer is not None:
                self._producer.close(timeout=10)

    # ---- a stalled consumer ---------------------------------------------------------------------------------

    def _watch(self) -> None:
        """While the worker runs: a poll in progress for POLL_STALL_SECONDS marks the consumer stalled and stops
        its client (`Consumer.abort`: kafka-python's close stops its IO loop, which fails the poll's wait)."""
        while not self._stop.wait(1.0) and self._running.is_set():
            started, consumer = self.poll_started_at, self._consumer
            if started is None or consumer is None or self._stalled.is_set():
                continue
            if time.monotonic() - started > POLL_STALL_SECONDS:
                log.warning("%s: a poll has not returned for %.0f s: making a new consumer", self.service,
                            time.monotonic() - started)
                self._stalled.set()
                try:
                    consumer.abort()
                except Exception as exc:
                    log.info("%s: stopping the stalled consumer: %r", self.service, exc)

    def _abandon(self, consumer: Any) -> None:
        """Drop a stalled consumer: its partitions are taken as lost (nothing committed for them); it is closed
        on a thread of its own, since a stuck client may not close promptly."""
        self.forget(set(self._processed))
        self._consumer = None
        self._commit_sent_at, self._commit_skipped = None, False

        def close() -> None:
            try:
                consumer.close()
            except Exception as exc:
                log.info("%s: closing the stalled consumer: %r", self.service, exc)

        threading.Thread(target=close, name=f"{self.service}-close-stalled", daemon=True).start()

    def _rebuild(self) -> Any:
        self._stalled.clear()
        self.consumers_rebuilt += 1
        self.metrics.transient_failures.labels(self.service).inc()
        self._last_fetch = time.monotonic()
        consumer = self._connect()
        if consumer is not None:
            log.info("%s: a new consumer joined the group (from the committed offsets)", self.service)
        return consumer

    def _connect(self) -> Any:
        """A consumer subscribed to the sources; made again while that fails transiently (the broker away when
        the worker starts). None once stopped."""
        while not self._stop.is_set():
            consumer = None
            try:
                consumer = open_consumer(self.settings, self.group_id)
                self._subscribe(consumer)
                self._consumer = consumer
                return consumer
            except Exception as exc:
                if consumer is not None:
                    consumer.close()
                if not is_transient(exc):
                    raise
                self._back_off(exc)
        return None

    def _subscribe(self, consumer: Consumer) -> None:
        """Subscribe with the rebalance callbacks: commit what was processed before partitions move to another
        worker; commit nothing for partitions LOST (the group moved on without this worker: another member may own
        them already). A consumer that was replaced after a stall is ignored: its partitions were forgotten
        already, and the offsets the runner holds now are its successor's."""

        def revoked(partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
            if consumer is not self._consumer:
                return {}
            offsets = self.offsets_of(partitions)
            self.forget(partitions)
            return offsets  # the client commits them before the partitions go (a failure only means redelivery)

        def lost(partitions: set[TopicPartition]) -> None:
            if consumer is not self._consumer:
                return
            log.warning("%s lost %s; nothing committed for them", self.service,
                        sorted((tp.topic, tp.partition) for tp in partitions))
            self.forget(partitions)

        def assigned(partitions: set[TopicPartition]) -> None:
            log.info("%s assigned %s", self.service, sorted((tp.topic, tp.partition) for tp in partitions))

        consumer.subscribe(list(self.sources), on_assigned=assigned, on_revoked=revoked, on_lost=lost)

    def _consume(self, consumer: Any) -> None:
        """Steps until stopped (then commits) or until the consumer is found stalled (then commits nothing)."""
        self._last_lag = self._last_prune = 0.0
        while not self._stop.is_set() and not self._stalled.is_set():
            try:
                self._step(consumer)
            except Exception as exc:
                if self._stalled.is_set():
                    log.info("%s: the stalled consumer's poll ended: %r", self.service, exc)
                    return
                if not is_transient(exc):
                    raise
                self._back_off(exc)
        if not self._stalled.is_set():
            self.commit_pending()

    def _step(self, consumer: Any) -> None:
        """One turn of the loop: poll, process what came, housekeeping. Raises a transient failure to back off."""
        self.poll_started_at = time.monotonic()
        try:
            polled = consumer.poll(timeout_ms=self.settings.poll_timeout_ms,
                                   max_records=self.settings.poll_max_records)
        finally:
            self.poll_started_at = None
        if consumer.assignment():
            self.ready.set()
        now = time.monotonic()
        if polled:
            self._last_fetch = now
            self.process(polled)
        elif self._commit_skipped:  # idle now: commit what a busy moment left uncommitted
            self._commit_async()
        if now - self._last_lag > LAG_INTERVAL_SECONDS:
            self._last_lag = now
            self._update_lag()
        if now - self._last_fetch > FETCH_STALL_SECONDS:
            if self._behind(consumer):
                log.warning("%s: nothing fetched for %.0f s while the partitions have records: making a new "
                            "consumer", self.service, now - self._last_fetch)
                self._stalled.set()
                return
            self._last_fetch = now  # nothing to fetch is not a stall: ask again in FETCH_STALL_SECONDS
        if now - self._last_prune > PRUNE_INTERVAL_SECONDS:
            self._last_prune = now
            with self.store.transaction() as tx:
                prune_processed(tx, self.group_id, self.settings.processed_retention_hours)
        if not polled and not self._retrying_batch:
            self._recovered()

    # ---- transient failures -------------------------------------------------------------------------------

    def backoff_seconds(self, attempt: int) -> float:
        """Capped exponential backoff with jitter: a random wait in [d/2, d], d = base * 2**attempt <= max."""
        ceiling = min(self.settings.retry_backoff_max_seconds,
                      self.settings.retry_backoff_seconds * 2 ** min(attempt, 30))
        return ceiling / 2 + random.random() * ceiling / 2

    def _back_off(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        delay = self.backoff_seconds(self._attempt)
        self._attempt += 1
        self._last_fetch = now  # failing is not stalling: the fetch stall clock starts once the failures end
        self.metrics.transient_failures.labels(self.service).inc()
        log.warning("%s: transient failure #%d for %.1f s (%s: %s); retrying in %.2f s", self.service,
                    self._attempt, now - self.failing_since, type(exc).__name__, exc, delay)
        self._stop.wait(delay)

    def _recovered(self) -> None:
        if self.failing_since is not None:
            log.info("%s: recovered after %d transient failures in %.1f s", self.service, self._attempt,
                     time.monotonic() - self.failing_since)
        self.failing_since, self._attempt, self._retrying_batch = None, 0, False

    def _rewind(self, polled: Mapping[TopicPartition, Sequence[Any]]) -> None:
        """Seek back to the batch's first offsets so the next poll returns the same records again."""
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        for tp, messages in polled.items():
            if messages and tp in assigned:
                try:
                    consumer.seek(tp, messages[0].offset)
                except Exception as exc:  # revoked meanwhile: its next owner reads from the committed offset
                    log.info("%s: could not rewind %s: %r", self.service, tp, exc)
        self._retrying_batch = True

    def _producer_ready(self) -> Producer:
        """The producer, made on first use (making one needs the broker: a transient failure while it is down)."""
        if self._producer is None:
            self._producer = open_producer(self.settings,
                                           max_block_ms=int(self.settings.produce_timeout_seconds * 1000))
        return self._producer

    def _drop_producer(self) -> None:
        """After a failed send or flush: drop what the producer still holds (the batch is produced again) and
        start afresh next time, so an idempotent producer's state after expired batches cannot stall later ones."""
        old, self._producer = self._producer, None
        if old is not None:
            try:
                old.close(timeout=0)
            except Exception as exc:
                log.info("%s: closing the failed producer: %r", self.service, exc)

    # ---- one batch --------------------------------------------------------------------------------------

    def process(self, polled: Mapping[TopicPartition, Sequence[Any]]) -> None:
        """Handle one polled batch. On a transient failure the consumer is rewound to the batch's start, nothing
        is committed, and the failure is raised for the loop to back off."""
        self.batch_started_at = time.monotonic()
        try:
            self._process(polled)
        except Exception as exc:
            if is_transient(exc):
                self._rewind(polled)
            raise
        finally:
            self.batch_started_at = None
        self._recovered()

    def _process(self, polled: Mapping[TopicPartition, Sequence[Any]]) -> None:
        started = time.monotonic()
        producer = self._producer_ready()
        records: list[Record] = []
        dead: list[Output] = []
        next_offsets: dict[TopicPartition, int] = {}
        now = time.time()
        for tp, messages in polled.items():
            if not messages:
                continue
            source = self.sources[tp.topic]
            self.metrics.consumed.labels(self.service, tp.topic).inc(len(messages))
            next_offsets[tp] = messages[-1].offset + 1
            # per record, only what each needs (this loop is the runner's cost): names bound once per partition
            decode, validate, event_id, append = source.decode, source.validate, source.event_id, records.append
            topic, partition, prefix = tp.topic, tp.partition, f"{tp.topic}/"
            first = len(records)
            if self._take_whole(source, tp, messages, records):
                self._check_event_times(records, first, now, dead)
                continue
            for msg in messages:
                raw = msg.value
                if raw is None:  # a tombstone: nothing to decode or handle
                    dead.append(self._dead_letter(msg, "tombstone", "null value (tombstone)"))
                    continue
                try:
                    value = decode(raw)
                    if may_hold_pan(raw) and isinstance(value, Message):
                        redact_message(value)  # no card number in free text is ever handled, stored or sent
                    validate(value)
                    eid = prefix + event_id(value, msg)
                except ValidationError as exc:
                    dead.append(self._dead_letter(msg, exc.reason, str(exc)))
                    continue
                except (DecodeError, ValueError, TypeError) as exc:
                    dead.append(self._dead_letter(msg, "undecodable", type(exc).__name__))
                    continue
                key = msg.key
                append(Record(topic, partition, msg.offset, key.decode(errors="replace") if key else "", eid, value,
                              msg.timestamp, msg.headers))
            self._check_event_times(records, first, now, dead)

        outputs = self._apply(records, dead)
        try:
            produce_all(producer, [*dead, *outputs], timeout=self.settings.produce_timeout_seconds)
        except Exception:
            self._drop_producer()
            raise
        for letter in dead:
            headers = dict(letter.headers)
            self.metrics.dead_lettered.labels(self.service, headers["dlq.source.topic"].decode(),
                                              headers["dlq.reason"].decode()).inc()
        self._processed.update(next_offsets)  # only now: a failed batch must leave nothing to commit
        self._commit_async()
        self.metrics.batch_seconds.labels(self.service).observe(time.monotonic() - started)
        self.metrics.last_processed.labels(self.service).set(time.time())

    @staticmethod
    def _take_whole(source: Source, tp: TopicPartition, messages: Sequence[Any], records: list[Record]) -> bool:
        """A partition's batch taken whole, in C-level passes over it, where every record decodes, none may hold a
        card number and the source's batch check passes them all (the common case). Otherwise nothing is taken
        and False sends the caller record by record (which dead-letters what fails, naming why)."""
        if source.validate_batch is None:
            return False
        raws = list(map(_VALUE, messages))
        try:
            values = list(map(source.decode, raws))  # a tombstone (None) raises TypeError
            if may_any_hold_pan(raws) or not source.validate_batch(values):
                return False
            prefix = f"{tp.topic}/"
            event_ids = [prefix + eid for eid in map(source.event_id, values, messages)]
        except (ValidationError, DecodeError, ValueError, TypeError):
            return False
        topic, partition, new = tp.topic, tp.partition, tuple.__new__
        records += [new(Record, (topic, partition, m.offset, m.key.decode(errors="replace") if m.key else "", eid,
                                 value, m.timestamp, m.headers, None))
                    for m, value, eid in zip(messages, values, event_ids, strict=True)]
        return True

    def _check_event_times(self, records: list[Record], first: int, now: float, dead: list[Output]) -> None:
        """Event times of one partition's records (`records[first:]`) checked as a batch; only a batch with an
        event time out of bounds (or unset) is looked at record by record, and those out of bounds are
        dead-lettered."""
        skew, floor = self.settings.event_future_skew_seconds, self._event_time_floor
        batch = records[first:]
        values = [r.value for r in batch]
        if not values or not isinstance(values[0], Message) or event_times_within(
                values, now, future_skew_seconds=skew, floor=floor):
            return
        kept: list[Record] = []
        for r in batch:
            try:
                validate_event_time(r.value, now, future_skew_seconds=skew, floor=floor)
                kept.append(r)
            except ValidationError as exc:
                dead.append(self._dead_letter(_RecordView(r), exc.reason, str(exc)))
        records[first:] = kept

    def _apply(self, records: list[Record], dead: list[Output]) -> list[Output]:
        """Run the handler on the records not yet processed; return every output to produce.

        A transient failure is raised (the whole batch is tried again later). Any other failure of the batch is
        narrowed down by handling each record on its own: a record that fails again is dead-lettered."""
        try:
            return self._apply_in_one_transaction(records)
        except Exception as exc:
            if is_transient(exc):
                raise
            # the type only: an exception's text can carry record content
            log.error("%s: batch of %d failed (%s); retrying record by record", self.service, len(records),
                      type(exc).__name__)
        outputs: list[Output] = []
        for record in records:
            try:
                outputs += self._apply_in_one_transaction([record])
            except Exception as exc:
                if is_transient(exc):
                    raise
                letter = self._dead_letter(_RecordView(record), "handler_error", type(exc).__name__)
                dead.append(letter)
                if record.topic in self._by_offset:
                    self._settle_failed(record, letter)
        return outputs

    def _apply_in_one_transaction(self, records: list[Record]) -> list[Output]:
        consumer_name = self.group_id
        with self.store.transaction() as tx:
            by_id = dict(zip(map(_EVENT_ID, records), records, strict=True))  # in order of first sight
            if len(by_id) != len(records):  # an id seen twice in the batch: its first record is the one handled
                by_id = {}
                for r in records:
                    by_id.setdefault(r.event_id, r)
            new_ids = self._claim(tx, by_id, records)
            all_new = len(new_ids) == len(by_id)
            fresh = by_id if all_new else {e: r for e, r in by_id.items() if e in new_ids}
            handed = list(fresh.values())
            if tracing.enabled() and handed:
                handed = [r._replace(span=self._span(r)) for r in handed]
            try:
                result = self.handler.handle(handed, tx) if fresh else {}
                if tracing.enabled():
                    result = _traced(result, {r.event_id: r.span for r in handed})
            finally:
                for r in handed:
                    if r.span is not None:
                        r.span.end()
            produced = [(eid, encode_outputs(outs)) for eid, outs in result.items() if outs and eid in fresh]
            save_outputs(tx, consumer_name, produced)
            replayed = [] if all_new else stored_outputs(tx, consumer_name, (e for e in by_id if e not in new_ids))
        committed = getattr(self.handler, "committed", None)
        if fresh and committed is not None:
            committed(handed)
        self._count(records, fresh)
        outputs: list[Output] = []
        for blob in replayed:
            outputs += decode_outputs(blob)
        if result:
            for eid in fresh:
                outputs += result.get(eid, ())
        return outputs

    def _claim(self, tx: Tx, by_id: dict[str, Record], records: list[Record]) -> Collection[str]:
        """The event ids of `by_id` (the first record of each id in `records`) not handled before: by event id, or
        by offset where the source says so (each partition's offset moves past the last of `records`)."""
        by_offset = self._by_offset
        if not by_offset:
            return claim_events(tx, self.group_id, list(by_id))
        if by_offset.issuperset(map(_TOPIC, records)):  # one stream, or every stream deduped by offset
            keys, offsets = list(map(_TOPIC_PARTITION, records)), list(map(_OFFSET, records))
            # each partition's records come in offset order: its first and last by the last value a dict keeps
            last = dict(zip(keys, offsets, strict=True))
            before = claim_offsets(tx, self.group_id, {k: o + 1 for k, o in last.items()})
            lowest = dict(zip(reversed(keys), reversed(offsets), strict=True))
            if all(offset >= before[k] for k, offset in lowest.items()):
                return by_id.keys()  # nothing redelivered: the common case
            return {e for e, r in by_id.items() if r.offset >= before[(r.topic, r.partition)]}
        spans: dict[tuple[str, int], int] = {}
        for r in records:
            if r.topic in by_offset and r.offset >= spans.get((r.topic, r.partition), 0):
                spans[(r.topic, r.partition)] = r.offset + 1
        before = claim_offsets(tx, self.group_id, spans)
        fresh = {e for e, r in by_id.items() if r.topic in by_offset and r.offset >= before[(r.topic, r.partition)]}
        by_event = [e for e, r in by_id.items() if r.topic not in by_offset]
        return fresh | claim_events(tx, self.group_id, by_event) if by_event else fresh

    def _settle_failed(self, record: Record, letter: Output) -> None:
        """A record dead-lettered by its handler, on a stream deduped by offset: the next records' offsets will
        pass over it, so its offset is claimed now with the dead letter stored as its output, which a redelivery
        of the batch then produces again (a stream deduped by event id handles it again instead)."""
        with self.store.transaction() as tx:
            before = claim_offsets(tx, self.group_id, {(record.topic, record.partition): record.offset + 1})
            if record.offset >= before[(record.topic, record.partition)]:
                save_outputs(tx, self.group_id, [(record.event_id, encode_outputs([letter]))])

    def _span(self, record: Record) -> Any:
        """The processing span of one record, a child of its producer's span when the record carries one."""
        return tracing.start(f"{record.topic} process", SpanKind.CONSUMER, tracing.context_from(record.headers),
                             attributes={**tracing.messaging_attributes(record.topic, record.partition,
                                                                        record.offset, "process"),
                                         "messaging.consumer.group.name": self.group_id,
                                         "proactivecare.event_id": record.event_id})

    def _count(self, records: list[Record], fresh: dict[str, Record]) -> None:
        """Handled (fresh) and replayed records per topic (a record whose id was seen earlier in the batch is a
        replay too)."""
        handled = Counter(map(_TOPIC, records))
        replayed = Counter()
        if len(fresh) != len(records):
            replayed, handled = handled, Counter(map(_TOPIC, fresh.values()))
            replayed.subtract(handled)
        for topic, n in handled.items():
            self.metrics.handled.labels(self.service, topic).inc(n)
        for topic, n in replayed.items():
            if n:
                self.metrics.replayed.labels(self.service, topic).inc(n)

    def _dead_letter(self, msg: Any, reason: str, error: str) -> Output:
        """The dead letter of `msg` (counted once it is produced): a copy with every card number masked (same
        length, so it still decodes for a replay), without the value when it is larger than the cap (the source
        offset in the headers finds it), and no exception text beyond its type."""
        log.warning("%s: dead letter %s[%d]@%d: %s", self.service, msg.topic, msg.partition, msg.offset, reason,
                    extra={"topic": msg.topic, "partition": msg.partition, "offset": msg.offset})
        headers = (
            ("dlq.reason", reason.encode()),
            ("dlq.error", redact_text(error[:300]).encode()),
            ("dlq.service", self.service.encode()),
            ("dlq.source.topic", msg.topic.encode()),
            ("dlq.source.partition", str(msg.partition).encode()),
            ("dlq.source.offset", str(msg.offset).encode()),
            ("dlq.failed_at_ms", str(int(time.time() * 1000)).encode()),
        )
        key = msg.key.decode(errors="replace") if isinstance(msg.key, bytes) else (msg.key or "")
        value = redact_bytes(msg.value or b"")
        if len(value) > self.settings.dlq_max_value_bytes:
            headers += (("dlq.value_dropped", f"{len(value)} bytes".encode()),)
            value = b""
        return Output(dlq(msg.topic), redact_text(key), value, headers)

    # ---- offsets ----------------------------------------------------------------------------------------

    def offsets_of(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: om for tp, om in self._processed.items() if tp in partitions}

    def commit_pending(self) -> None:
        """Synchronous commit of everything processed (on stop, from the worker thread). A failure only means
        the next owner re-reads those records, which the processed-events record makes harmless."""
        consumer = self._consumer
        if consumer is not None:
            offsets = self.offsets_of(consumer.assignment())
            if offsets:
                try:
                    consumer.commit(offsets)
                except Exception as exc:
                    log.warning("%s: final commit failed (those records will be redelivered): %r",
                                self.service, exc)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Partitions that left this worker: their offsets are another worker's to commit from now on."""
        for tp in partitions:
            self._processed.pop(tp, None)
        self._retrying_batch = False  # a rewound batch of theirs is their next owner's to handle

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
        offsets = self.offsets_of(self._consumer.assignment())
        if not offsets:
            return
        self._commit_sent_at, self._commit_skipped = now, False
        try:
            self._consumer.commit_async(offsets, self._on_commit)
        except Exception as exc:  # e.g. no coordinator during a broker restart: the next turn commits
            self._commit_sent_at, self._commit_skipped = None, True
            log.warning("%s: offset commit not sent: %r", self.service, exc)

    def _on_commit(self, error: BaseException | None) -> None:
        self._commit_sent_at = None
        if error is not None:
            log.warning("%s: offset commit failed (the batch will be redelivered, harmlessly): %s",
                        self.service, error)

    def _behind(self, consumer: Any) -> bool:
        """Whether an assigned partition has records beyond the position, by the broker's end offsets (not the
        high watermarks fetch responses carry: when fetches stop being answered, those stay where they were and
        the consumer looks caught up). A failed look-up is no evidence (the broker may be away)."""
        assigned = consumer.assignment()
        if not assigned:
            return False
        try:
            ends = consumer.end_offsets(list(assigned))
            for tp, end in ends.items():
                position = consumer.position(tp)
                if end is not None and position is not None and end > position:
                    return True
            return False
        except Exception as exc:
            log.info("%s: end offsets not known (%r): the fetch stall check waits", self.service, exc)
            return False

    def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = consumer.position(tp)
            if position is not None:
                self.metrics.lag.labels(self.service, tp.topic, str(tp.partition)).set(max(0, end - position))


def _traced(result: Mapping[str, Sequence[Output]], spans: Mapping[str, Any]) -> dict[str, list[Output]]:
    """Each output carries the trace context of the record it came from."""
    return {eid: [replace(o, headers=tracing.with_headers(o.headers, tracing.headers_for(spans[eid])))
                  for o in outs] if eid in spans else list(outs)
            for eid, outs in result.items()}


class _RecordView:
    """The parts of a failed record a dead letter needs, rebuilt from a decoded Record."""

    def __init__(self, record: Record) -> None:
        self.topic = record.topic
        self.partition = record.partition
        self.offset = record.offset
        self.key = record.key.encode()
        self.value = record.value.SerializeToString()
