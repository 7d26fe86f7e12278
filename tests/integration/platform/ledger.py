"""A minimal service handler for testing the stream runner: it appends one effect row per transaction (no
unique constraint, so a double application would show) and emits one output record per transaction.

Run as a process (`python -m tests.integration.platform.ledger`) for the kill -9 test; env vars as Settings.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

from prometheus_client import CollectorRegistry

from services.platform import streams
from services.platform.kafka_io import Output
from services.platform.runner import Record, StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Migration, Store, Tx
from services.platform.topics import NOTIFICATIONS

MIGRATIONS = [Migration("ledger/0001_effects", lambda tx: tx.execute(
    "CREATE TABLE effects (event_id TEXT NOT NULL, customer_id TEXT NOT NULL, amount_minor BIGINT NOT NULL)"))]


class LedgerHandler:
    def __init__(self, settings: Settings, delay_per_batch: float = 0.0) -> None:
        self.out_topic = settings.topic(NOTIFICATIONS)
        self.delay = delay_per_batch
        self.batches = 0

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        self.batches += 1
        tx.execute("INSERT INTO effects VALUES (:id, :customer_id, :amount)",
                   [{"id": r.value.id, "customer_id": r.value.customer_id, "amount": r.value.amount.amount_minor}
                    for r in records])
        if self.delay:
            time.sleep(self.delay)  # widen the window in which a kill -9 lands mid-batch
        return {r.event_id: [Output(self.out_topic, r.key, r.value.id.encode())] for r in records}


def build_runner(settings: Settings, registry: CollectorRegistry | None = None,
                 delay_per_batch: float = 0.0, dedupe: Literal["event", "offset"] = "event"
                 ) -> tuple[StreamRunner, Store]:
    store = Store.for_service(settings, "ledger")
    store.migrate(MIGRATIONS)
    source = replace(streams.transactions(settings), dedupe=dedupe)  # the services' own source of transactions
    runner = StreamRunner(settings, "ledger", [source], LedgerHandler(settings, delay_per_batch), store,
                          registry or CollectorRegistry())
    return runner, store


if __name__ == "__main__":
    runner, _store = build_runner(Settings.from_env(), delay_per_batch=float(os.environ.get("BATCH_DELAY", "0")),
                                  dedupe="offset" if os.environ.get("LEDGER_DEDUPE") == "offset" else "event")
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())  # finish the batch, commit, exit
    runner.run()
