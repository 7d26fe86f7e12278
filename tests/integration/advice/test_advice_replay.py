"""The same history replayed twice through Kafka and the advice service sends the same nudges: decisions do
not depend on wall-clock time, on batch boundaries, on randomness, or on when a customer's profile arrives
relative to the customer's transactions (profiles and transactions are produced interleaved)."""

from __future__ import annotations

import uuid
from pathlib import Path

from services.advice.app import SERVICE
from services.devtools.pipeline import wait_done
from services.gen.proactivecare.v1 import events_pb2
from services.platform.app import ServiceThread
from services.platform.kafka_io import ensure_topics, make_producer
from services.platform.settings import Settings
from services.platform.topics import CUSTOMERS, NOTIFICATIONS, TRANSACTIONS
from services.simulator import events
from services.simulator.bank import build_bank
from services.simulator.bank_config import BankConfig
from services.simulator.handbook import HandbookConfig
from tests.integration.conftest import read_topic


def _replay(kafka_settings: Settings, data_dir: Path, bank) -> list[tuple[str, str, str]]:
    run = uuid.uuid4().hex[:8]
    settings = kafka_settings.with_overrides(topic_prefix=f"r{run}.", consumer_group_prefix=f"r{run}",
                                             data_dir=data_dir, poll_timeout_ms=100, grpc_port=0, metrics_port=0)
    ensure_topics(settings)
    app = SERVICE.build(settings)
    profiles, transactions = list(events.profiles(bank)), list(events.transactions(bank))
    with ServiceThread(app, settings):
        producer = make_producer(settings)
        # Profiles and transactions together, as core banking produces them: each customer's profile right after
        # that customer's first transaction, so the profile (another topic, consumed at its own pace) arrives
        # after some of the customer's transactions. They are held until it comes (advice README).
        pending = {p.customer_id: p for p in profiles}
        for t in transactions:
            producer.send(settings.topic(TRANSACTIONS), key=t.customer_id.encode(), value=t.SerializeToString())
            profile = pending.pop(t.customer_id, None)
            if profile is not None:
                producer.send(settings.topic(CUSTOMERS), key=profile.customer_id.encode(),
                              value=profile.SerializeToString())
        for p in pending.values():
            producer.send(settings.topic(CUSTOMERS), key=p.customer_id.encode(), value=p.SerializeToString())
        producer.flush()
        producer.close()
        wait_done(app, {settings.topic(TRANSACTIONS): len(transactions), settings.topic(CUSTOMERS): len(profiles)},
                  timeout=240)
    notes = [events_pb2.Notification.FromString(r.value)
             for r in read_topic(settings, NOTIFICATIONS, expect=10**9, timeout=5)]
    return sorted((n.id, n.title, n.body) for n in notes)


def test_one_history_replayed_twice_sends_the_same_nudges(kafka_settings: Settings, tmp_path: Path) -> None:
    bank = build_bank(HandbookConfig(n_customers=12, n_terminals=200, n_days=60, seed=2), BankConfig.for_market("US"))
    first = _replay(kafka_settings, tmp_path / "first", bank)
    second = _replay(kafka_settings, tmp_path / "second", bank)
    assert len(first) > 5            # the history does make the service speak
    assert first == second
