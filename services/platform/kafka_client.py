"""The Kafka client seam: the one small interface the kernel consumes, produces and administers topics through,
with two implementations chosen by `KAFKA_CLIENT`:

- `kafka-python` (the default, the design card's client): pure Python, no native code; about 19 us a record to
  consume on this machine.
- `confluent` (confluent-kafka over librdkafka, C): about a tenth of that per record, a native wheel, and a
  client whose own threads fetch ahead while the worker handles a batch.

Both are used through their public API only. What the seam gives:

- `Consumer`: `subscribe(topics, on_assigned=, on_revoked=, on_lost=)`, `poll(timeout_ms, max_records)` (a batch,
  per partition), `commit(offsets)` (blocking), `commit_async(offsets, callback)`, `seek`, `position`,
  `end_offsets`, `highwater`, `assignment`, `abort()` (from another thread: make a poll that does not return
  fail) and `close()` (never commits). `on_revoked(partitions)` returns the offsets to commit before the
  partitions go (the client commits them where its threading allows); `on_lost(partitions)` commits nothing.
- `Producer`: `send(topic, key, value, headers)` and `flush(timeout)`, which raises if any send since the last
  flush failed or the flush took longer than `timeout` (a `KafkaClientError`, transient); `close(timeout)`
  (`timeout=0` drops what is queued).
- `Admin`: `create_topics(specs)` (those missing; idempotent), `list_topics()`, `end_offsets(partitions)`.

Offsets are plain ints (the next offset to read); records are anything with `topic, partition, offset, key,
value, timestamp, headers` (kafka-python's own records as they come; confluent's copied into `Message`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from services.platform.settings import Settings

log = logging.getLogger(__name__)

KAFKA_PYTHON = "kafka-python"
CONFLUENT = "confluent"
CLIENTS = (KAFKA_PYTHON, CONFLUENT)
# A restarted broker is reconnected to within about this long (kafka-python backs off up to 30 s by default,
# which kept workers idle for half a minute after the broker was back).
RECONNECT_BACKOFF_MAX_MS = 2_000
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
# a producer that is never flushed (the audit trail's fire-and-forget copy) keeps this many failures at most
MAX_FAILURES_KEPT = 100
METADATA_MAX_AGE_MS = 30_000  # new topics and partitions are noticed within 30 s (the client default: 5 minutes)


class TopicPartition(NamedTuple):
    """A partition (equal to, and hashed as, kafka-python's namedtuple of the same fields)."""

    topic: str
    partition: int


class Message(NamedTuple):
    """A consumed record, as the runner reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int  # ms
    headers: Sequence[tuple[str, bytes]]


class KafkaClientError(Exception):
    """A client failure; `retriable` ones (a time-out, a broker away, group membership that moved on) are
    transient for `errors.is_transient`."""

    def __init__(self, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


Offsets = Mapping[TopicPartition, int]
OnRevoked = Callable[[set[TopicPartition]], Offsets]
OnPartitions = Callable[[set[TopicPartition]], None]
CommitCallback = Callable[[BaseException | None], None]


class Consumer(Protocol):
    def subscribe(self, topics: Sequence[str], *, on_assigned: OnPartitions, on_revoked: OnRevoked,
                  on_lost: OnPartitions) -> None: ...
    def poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, Sequence[Any]]: ...
    def assignment(self) -> set[TopicPartition]: ...
    def commit(self, offsets: Offsets) -> None: ...
    def commit_async(self, offsets: Offsets, callback: CommitCallback) -> None: ...
    def seek(self, tp: TopicPartition, offset: int) -> None: ...
    def position(self, tp: TopicPartition) -> int | None: ...
    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]: ...
    def highwater(self, tp: TopicPartition) -> int | None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


class Producer(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: Sequence[tuple[str, bytes]] = ()) -> None: ...
    def flush(self, timeout: float | None = None) -> None: ...
    def close(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=dict)


class Admin(Protocol):
    def list_topics(self) -> set[str]: ...
    def create_topics(self, specs: Sequence[TopicSpec], timeout_s: float = 30.0) -> list[str]: ...
    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]: ...
    def close(self) -> None: ...


def client_name(settings: Settings) -> str:
    name = settings.kafka_client
    if name not in CLIENTS:
        raise ValueError(f"KAFKA_CLIENT must be one of {', '.join(CLIENTS)}, not {name!r}")
    return name


def open_consumer(settings: Settings, group_id: str, **overrides: object) -> Consumer:
    """A group consumer with auto-commit off (the runner commits). `overrides` in kafka-python's names
    (`max_poll_interval_ms=...`), translated for librdkafka."""
    if client_name(settings) == CONFLUENT:
        return ConfluentConsumer(settings, group_id, overrides)
    return KafkaPythonConsumer(settings, group_id, overrides)


def open_producer(settings: Settings, **overrides: object) -> Producer:
    """An idempotent producer, acks=all: a record is written once, in order, or the flush fails."""
    if client_name(settings) == CONFLUENT:
        return ConfluentProducer(settings, overrides)
    return KafkaPythonProducer(settings, overrides)


def open_admin(settings: Settings) -> Admin:
    if client_name(settings) == CONFLUENT:
        return ConfluentAdmin(settings)
    return KafkaPythonAdmin(settings)


# ---- kafka-python ---------------------------------------------------------------------------------------------

def kafka_python_security(settings: Settings) -> dict[str, object]:
    """kafka-python's transport security settings: PLAINTEXT, SSL (TLS, client certificate when configured) or
    SASL_SSL (SCRAM-SHA-256/512 over TLS)."""
    protocol = _protocol(settings)
    config: dict[str, object] = {"security_protocol": protocol}
    if protocol == "PLAINTEXT":
        return config
    config.update({"ssl_check_hostname": True, "ssl_cafile": settings.kafka_ssl_cafile or None,
                   "ssl_certfile": settings.kafka_ssl_certfile or None,
                   "ssl_keyfile": settings.kafka_ssl_keyfile or None})
    if protocol == "SASL_SSL":
        config.update({"sasl_mechanism": settings.kafka_sasl_mechanism or "SCRAM-SHA-512",
                       "sasl_plain_username": settings.kafka_sasl_username,
                       "sasl_plain_password": settings.kafka_sasl_password})
    return config


def _protocol(settings: Settings) -> str:
    protocol = settings.kafka_security_protocol
    if protocol not in ("PLAINTEXT", "SSL", "SASL_SSL"):
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL or SASL_SSL, not {protocol!r}")
    return protocol


def kafka_python_consumer_config(settings: Settings, group_id: str | None) -> dict[str, object]:
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.poll_max_records,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
        "metadata_max_age_ms": METADATA_MAX_AGE_MS,
        "client_id": group_id or "proactive-care-reader",
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **kafka_python_security(settings),
    }


def kafka_python_producer_config(settings: Settings) -> dict[str, object]:
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "client_id": "proactive-care",
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **kafka_python_security(settings),
    }


def _kafka_tp(tp: TopicPartition) -> Any:
    from kafka import TopicPartition as KafkaTP

    return KafkaTP(tp.topic, tp.partition)


class KafkaPythonConsumer:
    """kafka-python 3's KafkaConsumer. Its rebalance listener runs on the client's IO thread, where a blocking
    commit is refused: the revoked partitions' offsets are committed with `commit_async`, whose future the async
    listener awaits (the heartbeat goes on meanwhile)."""

    def __init__(self, settings: Settings, group_id: str, overrides: Mapping[str, object]) -> None:
        from kafka import KafkaConsumer

        self.consumer = KafkaConsumer(**{**kafka_python_consumer_config(settings, group_id), **overrides})
        self._closed = False

    def subscribe(self, topics: Sequence[str], *, on_assigned: OnPartitions, on_revoked: OnRevoked,
                  on_lost: OnPartitions) -> None:
        from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener

        consumer = self.consumer
        for topic in topics:  # know every topic's partitions before joining: an assignment made without them
            consumer.partitions_for_topic(topic)  # stays empty until the next metadata refresh
        offsets_of = self._offsets

        class Listener(AsyncConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: set) -> None:
                offsets = on_revoked({TopicPartition(*tp) for tp in revoked})
                if offsets:
                    try:
                        await consumer.commit_async(offsets_of(offsets))
                    except Exception as exc:  # never out of a listener: poll() would raise it
                        log.warning("commit on revoke failed (the next owner re-reads those records, "
                                    "harmlessly): %r", exc)

            async def on_partitions_lost(self, lost: set) -> None:
                on_lost({TopicPartition(*tp) for tp in lost})

            async def on_partitions_assigned(self, assigned: set) -> None:
                on_assigned({TopicPartition(*tp) for tp in assigned})

        consumer.subscribe(list(topics), listener=Listener())

    @staticmethod
    def _offsets(offsets: Offsets) -> dict:
        from kafka.structs import OffsetAndMetadata

        return {_kafka_tp(tp): OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}

    def poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, Sequence[Any]]:
        return self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)

    def assignment(self) -> set[TopicPartition]:
        return self.consumer.assignment()

    def commit(self, offsets: Offsets) -> None:
        self.consumer.commit(offsets=self._offsets(offsets))

    def commit_async(self, offsets: Offsets, callback: CommitCallback) -> None:
        self.consumer.commit_async(offsets=self._offsets(offsets), callback=lambda _offsets, response: callback(
            response if isinstance(response, BaseException) else None))

    # kafka-python checks for its own TopicPartition type (a tuple of the same fields is refused with a TypeError)
    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.consumer.seek(_kafka_tp(tp), offset)

    def position(self, tp: TopicPartition) -> int | None:
        return self.consumer.position(_kafka_tp(tp), timeout_ms=1_000)

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {TopicPartition(*tp): end
                for tp, end in self.consumer.end_offsets(list(map(_kafka_tp, partitions)), timeout_ms=5_000).items()}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.consumer.highwater(_kafka_tp(tp))

    def abort(self) -> None:
        """Close from another thread: closing stops the client's IO loop, which fails a poll waiting on it. On a
        thread of its own, so a close that hangs too (an IO loop that answers nothing) never holds the caller."""

        def close() -> None:
            try:
                self.close(timeout_ms=2_000)
            except Exception as exc:
                log.info("closing a stalled consumer: %r", exc)

        threading.Thread(target=close, name="kafka-consumer-abort", daemon=True).start()

    def close(self, timeout_ms: int = 5_000) -> None:
        if not self._closed:
            self._closed = True
            self.consumer.close(autocommit=False, timeout_ms=timeout_ms)


class KafkaPythonProducer:
    def __init__(self, settings: Settings, overrides: Mapping[str, object]) -> None:
        from kafka import KafkaProducer

        self.producer = KafkaProducer(**{**kafka_python_producer_config(settings), **overrides})
        self._failed: list[BaseException] = []  # failed sends since the last flush (kept: nothing else per send)
        self._lock = threading.Lock()

    def _failure(self, exc: BaseException) -> None:
        with self._lock:
            if len(self._failed) < MAX_FAILURES_KEPT:
                self._failed.append(exc)

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: Sequence[tuple[str, bytes]] = ()) -> None:
        self.producer.send(topic, key=key, value=value, headers=list(headers)).add_errback(self._failure)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout)  # raises KafkaTimeoutError (retriable) past the timeout
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            raise failed[0]  # a failed send: offsets must then not be committed

    def close(self, timeout: float | None = None) -> None:
        self.producer.close(timeout=timeout)


class KafkaPythonAdmin:
    def __init__(self, settings: Settings) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self.settings = settings
        self.admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="proactive-care-admin",
                                      **kafka_python_security(settings))
        self._consumer_type = KafkaConsumer
        self._reader: Any = None

    def list_topics(self) -> set[str]:
        return set(self.admin.list_topics())

    def create_topics(self, specs: Sequence[TopicSpec], timeout_s: float = 30.0) -> list[str]:
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        existing = self.list_topics()
        wanted = [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs))
                  for s in specs if s.name not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won the race
                self.admin.create_topics(wanted)
            self.admin.wait_for_topics([t.name for t in wanted], timeout_ms=int(timeout_s * 1000))
        return [t.name for t in wanted]

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        if self._reader is None:
            self._reader = self._consumer_type(**kafka_python_consumer_config(self.settings, None))
        ends = self._reader.end_offsets(list(map(_kafka_tp, partitions)))
        return {TopicPartition(*tp): end for tp, end in ends.items()}

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.admin.close()


# ---- confluent-kafka (librdkafka) -----------------------------------------------------------------------------

def confluent_security(settings: Settings) -> dict[str, object]:
    protocol = _protocol(settings)
    config: dict[str, object] = {"security.protocol": protocol}
    if protocol == "PLAINTEXT":
        return config
    config["ssl.endpoint.identification.algorithm"] = "https"
    for key, value in (("ssl.ca.location", settings.kafka_ssl_cafile),
                       ("ssl.certificate.location", settings.kafka_ssl_certfile),
                       ("ssl.key.location", settings.kafka_ssl_keyfile)):
        if value:
            config[key] = value
    if protocol == "SASL_SSL":
        config.update({"sasl.mechanism": settings.kafka_sasl_mechanism or "SCRAM-SHA-512",
                       "sasl.username": settings.kafka_sasl_username,
                       "sasl.password": settings.kafka_sasl_password})
    return config


# kafka-python option names that are not librdkafka's with '_' read as '.'
_CONFLUENT_NAMES = {"max_poll_records": None, "max_block_ms": None, "bootstrap_timeout_ms": None,
                    "max_in_flight_requests_per_connection": "max.in.flight.requests.per.connection",
                    "request_timeout_ms": "request.timeout.ms", "batch_size": "batch.size"}


def _confluent_overrides(overrides: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in overrides.items():
        name = _CONFLUENT_NAMES.get(key, key.replace("_", "."))
        if name is not None:
            out[name] = value
    return out


def _confluent_error(err: Any, what: str) -> KafkaClientError:
    """A librdkafka error as the kernel's: retriable when librdkafka says so, or when it is a time-out, a broker
    away or group membership that moved on (what kafka-python reports as retriable or recoverable)."""
    from confluent_kafka import KafkaError

    transient = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
                 KafkaError._MSG_TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError.UNKNOWN_MEMBER_ID,
                 KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS, KafkaError._WAIT_COORD,
                 KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR, KafkaError._NO_OFFSET,
                 KafkaError._STATE, KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.LEADER_NOT_AVAILABLE,
                 KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError._RESOLVE, KafkaError._DESTROY,
                 KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, KafkaError.UNKNOWN_PRODUCER_ID,
                 KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT}
    retriable = bool(err.retriable()) or err.code() in transient
    return KafkaClientError(f"{what}: {err.str()} ({err.name()})", retriable=retriable and not err.fatal())


def _raise_from(exc: Exception, what: str) -> KafkaClientError:
    error = exc.args[0] if exc.args else None
    if hasattr(error, "code"):
        return _confluent_error(error, what)
    return KafkaClientError(f"{what}: {exc}")


class ConfluentConsumer:
    """confluent-kafka's Consumer. Rebalance callbacks run inside `poll` on the worker's thread, where a blocking
    commit is allowed; librdkafka's poll returns within its timeout, so `abort` has nothing to do."""

    def __init__(self, settings: Settings, group_id: str, overrides: Mapping[str, object]) -> None:
        from confluent_kafka import Consumer as CKConsumer

        self._commit_callbacks: deque[CommitCallback] = deque()
        config: dict[str, object] = {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group_id,
            "client.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            "topic.metadata.refresh.interval.ms": METADATA_MAX_AGE_MS,
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
            "on_commit": self._on_commit,
            "error_cb": self._on_error,
            "logger": logging.getLogger("confluent_kafka"),
            **confluent_security(settings),
            **_confluent_overrides(overrides),
        }
        self.consumer = CKConsumer(config)
        self._closed = False

    @staticmethod
    def _on_error(err: Any) -> None:
        (log.error if err.fatal() else log.info)("kafka client: %s", err)

    def _on_commit(self, err: Any, partitions: list) -> None:
        if not self._commit_callbacks:
            return
        callback = self._commit_callbacks.popleft()
        failed = next((p.error for p in partitions or () if p.error is not None), None)
        error = err or failed
        callback(_confluent_error(error, "offset commit") if error is not None else None)

    @staticmethod
    def _tps(offsets: Offsets) -> list:
        from confluent_kafka import TopicPartition as CKTP

        return [CKTP(tp.topic, tp.partition, offset) for tp, offset in offsets.items()]

    def subscribe(self, topics: Sequence[str], *, on_assigned: OnPartitions, on_revoked: OnRevoked,
                  on_lost: OnPartitions) -> None:
        def revoked(consumer: Any, partitions: list) -> None:
            offsets = on_revoked({TopicPartition(p.topic, p.partition) for p in partitions})
            if offsets:
                try:
                    consumer.commit(offsets=self._tps(offsets), asynchronous=False)
                except Exception as exc:
                    log.warning("commit on revoke failed (the next owner re-reads those records, harmlessly): %r",
                                exc)

        self.consumer.subscribe(
            list(topics),
            on_assign=lambda _c, ps: on_assigned({TopicPartition(p.topic, p.partition) for p in ps}),
            on_revoke=revoked,
            on_lost=lambda _c, ps: on_lost({TopicPartition(p.topic, p.partition) for p in ps}))

    def poll(self, timeout_ms: int, max_records: int) -> Mapping[TopicPartition, Sequence[Any]]:
        from confluent_kafka import KafkaError

        try:
            messages = self.consumer.consume(num_messages=max_records, timeout=timeout_ms / 1000)
        except Exception as exc:
            raise _raise_from(exc, "poll") from exc
        batch: dict[TopicPartition, list[Message]] = {}
        current: list[Message] = []
        last_topic, last_partition = None, -1
        new = tuple.__new__  # a Message without its Python-level __new__: the fields are all given
        for m in messages:  # per record: one tuple from the message's accessors (the seam's whole cost)
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise _confluent_error(err, "poll")
                if err.code() != KafkaError._PARTITION_EOF:
                    log.info("kafka client: %s", err)
                continue
            topic, partition = m.topic(), m.partition()
            if partition != last_partition or topic != last_topic:
                last_topic, last_partition = topic, partition
                current = batch.setdefault(TopicPartition(topic, partition), [])
            current.append(new(Message, (topic, partition, m.offset(), m.key(), m.value(), m.timestamp()[1],
                                         m.headers() or ())))
        return batch

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(p.topic, p.partition) for p in self.consumer.assignment()}

    def commit(self, offsets: Offsets) -> None:
        try:
            self.consumer.commit(offsets=self._tps(offsets), asynchronous=False)
        except Exception as exc:
            raise _raise_from(exc, "offset commit") from exc

    def commit_async(self, offsets: Offsets, callback: CommitCallback) -> None:
        self._commit_callbacks.append(callback)
        try:
            self.consumer.commit(offsets=self._tps(offsets), asynchronous=True)
        except Exception as exc:
            self._commit_callbacks.pop()
            raise _raise_from(exc, "offset commit") from exc

    def seek(self, tp: TopicPartition, offset: int) -> None:
        from confluent_kafka import TopicPartition as CKTP

        self.consumer.seek(CKTP(tp.topic, tp.partition, offset))

    def position(self, tp: TopicPartition) -> int | None:
        from confluent_kafka import TopicPartition as CKTP

        [p] = self.consumer.position([CKTP(tp.topic, tp.partition)])
        return p.offset if p.offset >= 0 else None

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        from confluent_kafka import TopicPartition as CKTP

        try:
            return {tp: self.consumer.get_watermark_offsets(CKTP(tp.topic, tp.partition), timeout=5.0)[1]
                    for tp in partitions}
        except Exception as exc:
            raise _raise_from(exc, "end offsets") from exc

    def highwater(self, tp: TopicPartition) -> int | None:
        from confluent_kafka import TopicPartition as CKTP

        _low, high = self.consumer.get_watermark_offsets(CKTP(tp.topic, tp.partition), cached=True)
        return high if high >= 0 else None

    def abort(self) -> None:
        """librdkafka's poll returns within its timeout: nothing to unblock."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.consumer.close()


class ConfluentProducer:
    def __init__(self, settings: Settings, overrides: Mapping[str, object]) -> None:
        from confluent_kafka import Producer as CKProducer

        config: dict[str, object] = {
            "bootstrap.servers": settings.bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "client.id": "proactive-care",
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
            "message.timeout.ms": max(1_000, int(settings.produce_timeout_seconds * 1000)),
            "error_cb": ConfluentConsumer._on_error,
            "logger": logging.getLogger("confluent_kafka"),
            **confluent_security(settings),
            **_confluent_overrides(overrides),
        }
        self.producer = CKProducer(config)
        self._failed: list[Any] = []
        self._lock = threading.Lock()

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            with self._lock:
                if len(self._failed) < MAX_FAILURES_KEPT:
                    self._failed.append(err)

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: Sequence[tuple[str, bytes]] = ()) -> None:
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=list(headers) or None,
                                      on_delivery=self._delivered)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.05)
            except Exception as exc:
                raise _raise_from(exc, "send") from exc

    def flush(self, timeout: float | None = None) -> None:
        left = self.producer.flush(-1 if timeout is None else timeout)
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            raise _confluent_error(failed[0], f"{len(failed)} sends failed")
        if left:
            raise KafkaClientError(f"flush timed out with {left} records undelivered", retriable=True)

    def close(self, timeout: float | None = None) -> None:
        if timeout == 0:
            with contextlib.suppress(Exception):
                self.producer.purge()
        self.producer.flush(10.0 if timeout is None else timeout)


class ConfluentAdmin:
    def __init__(self, settings: Settings) -> None:
        from confluent_kafka.admin import AdminClient

        self.admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers,
                                  "client.id": "proactive-care-admin", **confluent_security(settings)})

    def list_topics(self) -> set[str]:
        return set(self.admin.list_topics(timeout=10).topics)

    def create_topics(self, specs: Sequence[TopicSpec], timeout_s: float = 30.0) -> list[str]:
        from confluent_kafka import KafkaError
        from confluent_kafka.admin import NewTopic

        existing = self.list_topics()
        wanted = [NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.configs))
                  for s in specs if s.name not in existing]
        for name, future in (self.admin.create_topics(wanted, request_timeout=timeout_s).items() if wanted else ()):
            try:
                future.result(timeout_s)
            except Exception as exc:
                err = exc.args[0] if exc.args else None
                if getattr(err, "code", lambda: None)() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise _raise_from(exc, f"create topic {name}") from exc
        deadline = time.monotonic() + timeout_s
        while wanted and not {t.topic for t in wanted} <= self.list_topics() and time.monotonic() < deadline:
            time.sleep(0.1)
        return [t.topic for t in wanted]

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        from confluent_kafka import TopicPartition as CKTP
        from confluent_kafka.admin import OffsetSpec

        futures = self.admin.list_offsets({CKTP(tp.topic, tp.partition): OffsetSpec.latest() for tp in partitions})
        return {TopicPartition(tp.topic, tp.partition): f.result(10).offset for tp, f in futures.items()}

    def close(self) -> None:
        """The admin client holds no resources beyond garbage collection."""

