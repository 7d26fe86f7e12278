"""The stream runner with a no-op handler against a bare kafka-python consumer of the same topic, same run.

Both join a consumer group and read the same N simulator transactions from the beginning; the runner also
decodes, validates, records processed event ids in the store (SQLite), produces nothing and commits per batch.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.gen.proactivecare.v1 import events_pb2
from services.platform.kafka_io import make_consumer
from services.platform.runner import Record, Source, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store, Tx
from services.platform.topics import TRANSACTIONS
from services.platform.validation import validate_transaction
from tests.perf.common import bench_settings, fill_topic, simulated_transactions

N_RECORDS = 100_000
ROUNDS = 2


class _NoOp:
    """Does nothing with the records; counts them so the benchmark knows when the topic is drained."""

    def __init__(self) -> None:
        self.seen = 0

    def handle(self, records: list[Record], tx: Tx) -> dict:
        self.seen += len(records)
        return {}


def bare_consumer_rate(settings: Settings, n: int, decode: bool = False) -> float:
    """A plain kafka-python poll loop (optionally decoding each value, to show where the time goes)."""
    consumer = make_consumer(settings, f"{settings.consumer_group_prefix}.bare.{uuid.uuid4().hex[:6]}")
    consumer.subscribe([settings.topic(TRANSACTIONS)])
    from_bytes = events_pb2.Transaction.FromString
    started, seen = time.perf_counter(), 0
    while seen < n:
        for records in consumer.poll(timeout_ms=200, max_records=settings.poll_max_records).values():
            seen += len(records)
            if decode:
                for r in records:
                    from_bytes(r.value)
    elapsed = time.perf_counter() - started
    consumer.close(autocommit=False)
    return n / elapsed


def runner_rate(settings: Settings, n: int, store: Store | None = None) -> float:
    """The runner with a no-op handler through `n` records; its store: `store`, or a fresh SQLite file."""
    registry = CollectorRegistry()
    store = store or Store.open(settings.data_dir / f"runner-{uuid.uuid4().hex[:6]}.sqlite")
    source = Source(settings.topic(TRANSACTIONS), events_pb2.Transaction.FromString, validate_transaction,
                    event_id=lambda tx, _rec: tx.id)
    handler = _NoOp()
    runner = StreamRunner(settings, "bench", [source], handler, store, registry,
                          group_id=f"{settings.consumer_group_prefix}.runner.{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    runner.start()
    while handler.seen < n:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    runner.stop()
    runner.join(30)
    return n / elapsed


def run(base: Settings) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, bench_settings(base, Path(tmp)) as settings:
        transactions = simulated_transactions(N_RECORDS)
        fill_topic(settings, TRANSACTIONS, transactions)
        n = len(transactions)
        bare, decoded, ours = [], [], []
        for _ in range(ROUNDS):  # interleaved, best of each: the machine is shared and noisy
            bare.append(bare_consumer_rate(settings, n))
            decoded.append(bare_consumer_rate(settings, n, decode=True))
            ours.append(runner_rate(settings, n))
    return {
        "records": n,
        "bare_consumer_records_per_s": round(max(bare), 1),
        "bare_consumer_with_decode_records_per_s": round(max(decoded), 1),
        "runner_records_per_s": round(max(ours), 1),
        "runner_vs_bare_consumer_ratio": round(max(ours) / max(bare), 3),
    }
