"""Replicas as real processes on one PostgreSQL and one consumer group per service, while the stream is live:

3 fraud workers, 2 notify and 2 advisor replicas (`proactive-care serve`, each its own process); 20,000
simulator transactions produced at a live rate. On the way:
- one fraud worker and one notify replica are killed with `kill -9` while they consume (a fraud worker at this
  rate spends most of its time in a batch), and a replacement of each is started;
- PostgreSQL is restarted (every connection cut, the server down for seconds);
- in the `broker_restart` case (`make test-broker-restart`: 1-2 minutes more, beyond `make test`'s budget),
  the Kafka broker is first killed with `kill -9`, and started again after the group session timeout with
  PostgreSQL restarted while it is down (every member loses its membership; the simulator's sends time out and
  are re-sent).
Then every transaction was handled, every alert is in the store once and was notified, every notification is
stored once with a gap-free per-customer sequence and was delivered exactly once, in order, to the Subscribe
streams held open on one notify replica all along (the customers' partitions are spread over every notify
replica, so most of what they receive another replica stored), nothing was dead-lettered, and no surviving
process was restarted: each paused (transient failures counted) and went on by itself.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from kafka.partitioner.default import murmur2

from services.gen.proactivecare.v1 import events_pb2
from services.platform.settings import Settings
from services.platform.storage import Store
from services.platform.topics import FRAUD_FEEDBACK, NOTIFICATIONS, TRANSACTIONS, dlq
from services.simulator import events
from services.simulator.bank import build_bank
from services.simulator.handbook import HandbookConfig
from services.simulator.produce import ProduceResult, make_kafka_producer, send_all
from tests.integration.conftest import dev_identity, read_topic, wait_for
from tests.integration.notify.test_gateway import _Stream
from tests.processes import ServiceProcess

N_TRANSACTIONS = 20_000
CUSTOMERS = 400
RATE = 500.0  # transactions/s: about 40 s of live stream, long enough for every failure to land mid-stream
WATCHED_PER_PARTITION = 4
TRANSIENT = "proactivecare_stream_transient_failures_total"
BROKER_DOWN_SECONDS = 12.0  # the consumers' session timeout is 10 s


def _bank() -> tuple[list[events_pb2.Transaction], set[str]]:
    """The transactions, and the customers whose cards are used by fraudsters in them (they get alerts)."""
    bank = build_bank(HandbookConfig(n_customers=CUSTOMERS, n_terminals=2 * CUSTOMERS, n_days=30, seed=12))
    txs = list(events.transactions(bank, 0, N_TRANSACTIONS))
    ledger, fraud = bank.ledger, bank.handbook.transactions.tx_fraud
    card_rows = np.flatnonzero(ledger.handbook_id[:len(txs)] >= 0)
    defrauded = card_rows[fraud[ledger.handbook_id[card_rows]] == 1]
    return txs, {bank.customers[int(ledger.customer[p])].customer_id for p in defrauded.tolist()}


def _watched(defrauded: set[str], partitions: int) -> list[str]:
    """Defrauded customers, a few on every partition of `notifications` (keyed by customer)."""
    by_partition: dict[int, list[str]] = defaultdict(list)
    for c in sorted(defrauded):
        by_partition[(murmur2(c.encode()) & 0x7FFFFFFF) % partitions].append(c)
    return [c for p in sorted(by_partition) for c in by_partition[p][:WATCHED_PER_PARTITION]]


class _Progress:
    """How many transactions the fraud workers have handled (their processed-events records), read from the
    store; None while the database is away."""

    def __init__(self, settings: Settings) -> None:
        self.store = Store.open(settings.database_url, schema=f"{settings.database_schema_prefix}fraud", threads=1)
        self.pattern = f"{settings.topic(TRANSACTIONS)}/%"

    def handled(self) -> int | None:
        try:
            with self.store.read() as tx:
                return int(tx.scalar("SELECT COUNT(*) FROM processed_events WHERE event_id LIKE :p",
                                     {"p": self.pattern}))
        except Exception:
            return None

    def reached(self, n: int, timeout: float) -> bool:
        ok = wait_for(lambda: (self.handled() or 0) >= n, timeout=timeout, interval=0.5)
        print(f"{time.strftime('%H:%M:%S')} handled {self.handled()} (waited for {n})", flush=True)
        return ok


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("broker_restart", [False, pytest.param(True, marks=pytest.mark.broker_restart)],
                         ids=["database-restart", "broker-and-database-restart"])
def test_replicas_survive_kill_9_and_restarts_with_every_effect_once(
        own_stack, own_postgres, fraud_model_dir: Path, tmp_path: Path, broker_restart: bool) -> None:
    settings, broker = own_stack
    txs, defrauded = _bank()
    log_dir = Path(os.environ.get("REPLICA_TEST_LOG_DIR") or tmp_path / "logs")  # set it to keep the logs
    log_dir.mkdir(parents=True, exist_ok=True)

    def spawn(service: str, name: str) -> ServiceProcess:
        return ServiceProcess(settings, service, log_dir, name, FRAUD_MODEL_DIR=str(fraud_model_dir)).start()

    fraud = [spawn("fraud", f"fraud-{i}") for i in range(3)]
    notify = [spawn("notify", f"notify-{i}") for i in range(2)]
    advisor = [spawn("advisor", f"advisor-{i}") for i in range(2)]
    started = fraud + notify + advisor
    progress = _Progress(settings)
    streams: dict[str, _Stream] = {}
    try:
        for p in started:
            assert p.wait_serving(), p.log_tail()
        survivors = {p.name: p.pid for p in [*fraud[1:], notify[1], *advisor]}
        partitions = 6
        watched = _watched(defrauded, partitions)
        assert len(watched) >= 12
        for c in watched:  # held open on notify-1 from start to end
            customer_token = dev_identity().issue(c, "customer", audience=[settings.audience("notify")],
                                                  issuer=settings.auth_issuer)
            streams[c] = _Stream(notify[1].target, customer_token, c)

        produced: list[ProduceResult] = []
        topic = settings.topic(TRANSACTIONS)
        simulator = threading.Thread(target=lambda: produced.extend(send_all(
            make_kafka_producer(settings), [(topic, t.customer_id, t) for t in txs], rate=RATE,
            renew=lambda: make_kafka_producer(settings))), daemon=True)
        simulator.start()

        assert progress.reached(N_TRANSACTIONS // 10, timeout=120)
        fraud[0].kill9()  # mid-stream, mid-batch: no commit, no clean shutdown
        notify[0].kill9()
        fraud.append(spawn("fraud", "fraud-3"))  # starting while the stream goes on
        notify.append(spawn("notify", "notify-2"))
        for p in (fraud[-1], notify[-1]):
            assert p.wait_serving(), p.log_tail()

        assert progress.reached(N_TRANSACTIONS // 2, timeout=120)
        if broker_restart:  # both outages at once (the test's time): PostgreSQL restarted while the broker is down
            assert broker.process is not None
            os.kill(broker.process.pid, signal.SIGKILL)  # mid-stream, no clean shutdown
            broker.process.wait()
            killed = time.monotonic()
        own_postgres.restart(down_seconds=4.0)  # every connection of every replica cut; back on the same socket
        if broker_restart:
            # down past the session timeout: every member loses its group membership
            time.sleep(max(0.0, BROKER_DOWN_SECONDS - (time.monotonic() - killed)))
            broker.start()  # the same data directory and ports
            print(f"{time.strftime('%H:%M:%S')} broker back", flush=True)

        simulator.join(timeout=300)
        assert [(r.records, r.failed) for r in produced] == [(N_TRANSACTIONS, 0)]
        assert progress.reached(N_TRANSACTIONS, timeout=240), progress.handled()
        assert progress.handled() == N_TRANSACTIONS  # each transaction handled once (one record per event id)

        # every alert once in the store, each notified, each notification stored once and in sequence
        fraud_store = Store.open(settings.database_url, schema=f"{settings.database_schema_prefix}fraud")
        notify_store = Store.open(settings.database_url, schema=f"{settings.database_schema_prefix}notify")
        with fraud_store.read() as tx:
            alerts = [r[0] for r in tx.all("SELECT id FROM fraud_alerts")]
        assert len(alerts) >= 20
        expected = {f"fraud:{a}" for a in alerts}
        assert wait_for(lambda: _stored_ids(notify_store) >= expected, timeout=120)
        records = read_topic(settings, NOTIFICATIONS, expect=len(alerts), timeout=60)
        assert {events_pb2.Notification.FromString(r.value).id for r in records} == expected
        with notify_store.read() as tx:
            rows = tx.all("SELECT id, customer_id, sequence FROM notifications ORDER BY customer_id, sequence")
        assert {r[0] for r in rows} == expected and len(rows) == len(expected)  # stored once each
        sequences: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for note_id, customer, sequence in rows:
            sequences[customer].append((sequence, note_id))
        for customer, delivered in sequences.items():
            assert [s for s, _ in delivered] == list(range(1, len(delivered) + 1)), customer  # no gap

        # delivered exactly once, in order, to the streams held on notify-1 all along
        with_notes = [c for c in watched if c in sequences]
        assert len(with_notes) >= 6
        for c in watched:
            want = sequences.get(c, [])
            got = streams[c].take(len(want), timeout=30)
            assert [(g.sequence, g.notification.id) for g in got] == want, c
            assert streams[c].nothing_more(0.2), c  # nothing twice

        # nothing dead-lettered
        for source in (TRANSACTIONS, NOTIFICATIONS, FRAUD_FEEDBACK):
            assert read_topic(settings, dlq(source), expect=0, timeout=2) == []
        # the survivors were never restarted: they paused and went on; they and the replacements serve
        for p in [*fraud[1:], *notify[1:], *advisor]:
            assert p.alive(), (p.name, p.log_tail())
            if p.name in survivors:
                assert p.pid == survivors[p.name], p.name
            assert wait_for(p.serving, timeout=60), (p.name, p.log_tail())
        if not broker_restart:
            # with the stream flowing, the outage reached the workers' batches (they paused and retried); with the
            # broker down at the same time they may have had no batch in flight while the database was away
            paused = [p.name for p in fraud[1:] if p.metric(TRANSIENT) > 0]
            assert paused, "no fraud worker saw the database go away"
        fraud_store.close()
        notify_store.close()
    finally:
        for stream in streams.values():
            stream.close()
        progress.store.close()
        for p in [*fraud, *notify, *advisor]:
            p.stop()


def _stored_ids(store: Store) -> set[str]:
    try:
        with store.read() as tx:
            return {r[0] for r in tx.all("SELECT id FROM notifications")}
    except Exception:
        return set()
