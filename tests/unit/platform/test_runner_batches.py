"""A polled batch through `StreamRunner.process` (no broker: a real SQLite store, a producer that keeps what it is
given): a clean batch is taken whole; a batch with anything wrong in it goes record by record, which
dead-letters what fails with its reason and hands the rest on; a card number in free text is masked either way."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.gen.proactivecare.v1 import events_pb2
from services.platform import streams
from services.platform.kafka_client import Message, TopicPartition
from services.platform.runner import Record, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store, Tx
from tests import factories

TOPIC = "transactions"


class _Keep:
    def __init__(self) -> None:
        self.handed: list[Record] = []

    def handle(self, records: list[Record], tx: Tx) -> dict:
        self.handed += records
        return {}


class _Sent:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, object]] = []

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: object = ()) -> None:
        self.sent.append((topic, value, headers))

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


@pytest.fixture()
def runner(tmp_path: Path) -> Iterator[tuple[StreamRunner, _Keep, _Sent]]:
    settings = Settings(data_dir=tmp_path)
    store = Store.open(tmp_path / "batches.sqlite")
    handler, producer = _Keep(), _Sent()
    worker = StreamRunner(settings, "probe", [streams.transactions(settings)], handler, store, CollectorRegistry(),
                          group_id="probe")
    worker._producer = producer  # type: ignore[assignment]
    try:
        yield worker, handler, producer
    finally:
        store.close()


def _batch(values: list[bytes | None]) -> dict[TopicPartition, list[Message]]:
    return {TopicPartition(TOPIC, 0): [Message(TOPIC, 0, offset, b"C1", value, 1_000, ())
                                       for offset, value in enumerate(values, 7)]}


def _not_called(_value: object) -> None:
    raise AssertionError("validated record by record")


def test_a_clean_batch_is_handed_on_whole_in_order_with_its_event_ids(runner):
    worker, handler, producer = runner
    worker.sources[TOPIC] = replace(worker.sources[TOPIC], validate=_not_called)  # the batch check alone
    txs = [factories.transaction() for _ in range(5)]
    worker.process(_batch([t.SerializeToString() for t in txs]))
    assert [r.value.id for r in handler.handed] == [t.id for t in txs]
    assert [(r.event_id, r.offset, r.key, r.timestamp_ms) for r in handler.handed] == [
        (f"{TOPIC}/{t.id}", offset, "C1", 1_000) for offset, t in enumerate(txs, 7)]
    assert producer.sent == []


def test_a_batch_with_bad_records_dead_letters_them_with_their_reason_and_hands_on_the_rest(runner):
    worker, handler, producer = runner
    good = [factories.transaction() for _ in range(2)]
    worker.process(_batch([good[0].SerializeToString(), factories.transaction(id="").SerializeToString(), None,
                           b"\xff\xfe not a protobuf", good[1].SerializeToString()]))
    assert [r.value.id for r in handler.handed] == [t.id for t in good]
    reasons = [dict(headers)["dlq.reason"] for _topic, _value, headers in producer.sent]  # type: ignore[arg-type]
    assert reasons == [b"missing_id", b"tombstone", b"undecodable"]
    assert {topic for topic, _value, _headers in producer.sent} == {f"{TOPIC}.dlq"}


def test_a_card_number_in_free_text_is_masked_before_the_handler_sees_it(runner):
    worker, handler, _producer = runner
    shop = factories.transaction(merchant=events_pb2.Merchant(id="M9", name="Shop 4111 1111 1111 1111",
                                                              mcc="5411", country="GB"))
    worker.process(_batch([factories.transaction().SerializeToString(), shop.SerializeToString()]))
    assert [r.value.id for r in handler.handed][1] == shop.id
    assert handler.handed[1].value.merchant.name == "Shop **** **** **** 1111"
