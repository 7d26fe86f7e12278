"""Run the seeded simulator through the mortgage-care handler and score it against the ground truth.

Two paths, the same handler code:
- `in_process`: the simulator's profiles and transactions become runner `Record`s and go through
  `MortgageCareHandler.handle` in store transactions on a real SQLite store, in time order, in batches.
- `kafka`: the simulator produces to a real broker; the service's StreamRunner consumes; the offers the
  service recorded are read back (see `commands.evaluate --kafka`).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from services.mortgage.metrics import MortgageMetrics
from services.mortgage.offline import evaluation
from services.mortgage.repository import MIGRATIONS, MortgageRepository
from services.mortgage.worker import MortgageCareHandler
from services.platform import topics
from services.platform.progress import Progress
from services.platform.runner import Record
from services.platform.storage import Store

BATCH = 20_000  # records per handler call: one state load and save per customer per batch


def build(customers: int, days: int, seed: int, start: dt.date, market: str = "default",
          payday_spending: float = 0.0) -> Any:
    from services.simulator.bank import build_bank
    from services.simulator.bank_config import BankConfig
    from services.simulator.handbook import HandbookConfig

    return build_bank(HandbookConfig(n_customers=customers, n_terminals=max(customers * 2, 1_000), n_days=days,
                                     start_date=start, seed=seed),
                      BankConfig.for_market(market, payday_spending=payday_spending))


def truth_of(bank: Any) -> evaluation.Truth:
    from services.simulator.truth import bank_records

    holders = {c.customer_id for c in bank.customers if c.mortgage is not None}
    return evaluation.truth_from_records(bank_records(bank), holders)


def offers_of(store: Store) -> list[evaluation.Offer]:
    return [evaluation.Offer(c, dt.date.fromisoformat(due), dt.date.fromisoformat(on), tuple(s.split(",")))
            for c, due, on, s in _offers(store)]


def _offers(store: Store) -> list[tuple[str, str, str, str]]:
    with store.read() as tx:
        return MortgageRepository(tx).offers()


def in_process(bank: Any, data_dir: Path | None = None) -> tuple[list[evaluation.Offer], dict[str, Any]]:
    from services.simulator import events

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(data_dir or tmp) / "mortgage-eval.sqlite")
        store.migrate(MIGRATIONS)
        handler = MortgageCareHandler(topics.NOTIFICATIONS, topics.ADVISOR_TASKS,
                                      MortgageMetrics.create(CollectorRegistry()))
        holders = {c.customer_id for c in bank.customers if c.mortgage is not None}
        produced = {"notifications": 0, "advisor_tasks": 0}

        def run(records: list[Record]) -> None:
            with store.transaction() as tx:
                outs = handler.handle(records, tx)
            for out_list in outs.values():
                for o in out_list:
                    produced["notifications" if o.topic == topics.NOTIFICATIONS else "advisor_tasks"] += 1

        profiles = [Record(topics.CUSTOMERS, 0, i, p.customer_id, f"customers/{i}", p, 0)
                    for i, p in enumerate(events.profiles(bank))]
        for i in range(0, len(profiles), BATCH):
            run(profiles[i:i + BATCH])
        batch: list[Record] = []
        n = 0
        with Progress("mortgage replay", total=len(bank.ledger.time_s), unit="transactions") as progress:
            for n, tx in enumerate(events.transactions(bank), start=1):
                progress.update()
                if tx.customer_id not in holders:
                    continue
                batch.append(Record(topics.TRANSACTIONS, 0, n, tx.customer_id, f"transactions/{tx.id}", tx,
                                    tx.timestamp.seconds * 1000))
                if len(batch) >= BATCH:
                    run(batch)
                    batch = []
            if batch:
                run(batch)
        offers = offers_of(store)
        store.close()
    return offers, {"path": "in_process", "transactions": n, "seconds": round(time.monotonic() - started, 1),
                    **produced}


def through_kafka(bank: Any) -> tuple[list, dict[str, Any]]:
    """Produce the bank to a real broker, let the mortgage service consume it, read back what it emitted."""
    from services.devtools.kafka_launcher import ensure_topics
    from services.devtools.pipeline import broker, wait_done
    from services.gen.proactivecare.v1 import events_pb2
    from services.mortgage.app import SERVICE
    from services.platform import topics
    from services.platform.app import ServiceThread
    from services.platform.kafka_io import read_to_end
    from services.platform.settings import Settings
    from services.simulator.produce import produce_bank

    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp, broker(Settings.from_env(), Path(tmp) / "kafka") as base:
        settings = base.with_overrides(topic_prefix=f"mtgeval{run}.", consumer_group_prefix=f"mtgeval{run}",
                                       data_dir=Path(tmp) / "data", grpc_port=0, metrics_port=0)
        ensure_topics(settings)
        app = SERVICE.build(settings)
        with ServiceThread(app, settings):
            consumed = (settings.topic(topics.TRANSACTIONS), settings.topic(topics.CUSTOMERS))
            results = [r for r in produce_bank(bank, settings) if r.topic in consumed]  # not the fraud feedback
            produced = sum(r.records for r in results)
            produced_at = time.monotonic()
            wait_done(app, {r.topic: r.records for r in results})
            consumed_at = time.monotonic()
        offers = offers_of(app.store)
        notes = [events_pb2.Notification.FromString(r.value) for r in read_to_end(settings, topics.NOTIFICATIONS)]
        tasks = [events_pb2.AdvisorTask.FromString(r.value) for r in read_to_end(settings, topics.ADVISOR_TASKS)]
    care = [n for n in notes if n.kind == events_pb2.NOTIFICATION_KIND_CARE_OFFER]
    return offers, {
        "path": "kafka", "records_produced": produced,
        "produce_seconds": round(produced_at - started, 1),
        "consume_tail_seconds": round(consumed_at - produced_at, 1),
        "notifications": len(care), "distinct_notification_ids": len({n.id for n in care}),
        "advisor_tasks": len(tasks),
    }
