"""Champion and challenger over a real broker and a real store: the fraud pattern drifts (fraudsters pay usual
amounts, at night, each at a shop the card never used: nothing the champion learnt; while customers' big purchases
at new shops, what it learnt to fear, are genuine), chargebacks bring the labels 7
days late, a retrain builds a challenger from that labelled history; in shadow it scores beside the champion and
decides nothing; promoted, it takes over in the running worker, between batches: the drifted frauds are alerted from
then on, and every alert of the traffic flowing through the swap is raised exactly once."""

from __future__ import annotations

import math
import random
import shutil
import threading
import time
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.fraud.app import SERVICE
from services.fraud.model_slots import CHALLENGER, CHAMPION, PREVIOUS, rollback, version_of
from services.fraud.offline.retraining import retrain
from services.fraud.policy import load_policy
from services.gen.proactivecare.v1 import events_pb2
from services.platform.app import ServiceThread
from services.platform.kafka_io import make_producer
from services.platform.settings import Settings
from services.platform.topics import FRAUD_FEEDBACK, NOTIFICATIONS, TRANSACTIONS
from tests.integration.conftest import read_topic, wait_for
from tests.stores import rows
from tests.unit.fraud.builders import DAY, card_payment

CUSTOMERS = [f"CC{i:02d}" for i in range(30)]
# on the live day each customer's payments stay in time order: the first six are defrauded at night in shadow, then
# pay the canaries; the next six are defrauded at night after the promotion; the rest spend as usual all day
SHADOWED, LATE, USUAL = CUSTOMERS[:6], CUSTOMERS[6:12], CUSTOMERS[12:]
HISTORY_DAYS = 39  # days 0..38 of history; the live phases run on day 39 (yesterday: nothing in the future)
DRIFT_FROM = 8  # from this day on, two night-time frauds a day at usual amounts
CANARY_MINOR = 600_000  # over the policy's always-check amount: alerted by a rule, whichever model decides


class Traffic:
    """Payments and chargebacks of the simulated bank, produced in bulk (one flush)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = make_producer(settings)
        self.origin = math.floor(time.time() / DAY) * DAY - (HISTORY_DAYS + 1) * DAY
        self.rng = random.Random(18)
        self.sent = 0
        self.frauds: list[events_pb2.Transaction] = []

    def at(self, day: int, hour: float) -> float:
        return self.origin + day * DAY + hour * 3600

    def pay(self, tx_id: str, customer: str, amount_minor: int, terminal: str, ts: float) -> events_pb2.Transaction:
        tx = card_payment(tx_id, customer, amount_minor, terminal, ts)
        self.producer.send(self.settings.topic(TRANSACTIONS), key=customer.encode(), value=tx.SerializeToString())
        self.sent += 1
        return tx

    def usual_day(self, day: int, hours: tuple[float, ...] = (9.0, 13.0, 18.0),
                  customers: list[str] = CUSTOMERS) -> None:
        for c in customers:
            for k, hour in enumerate(hours):
                self.pay(f"{c}-d{day}-{k}", c, 2500 + self.rng.randrange(0, 1500), f"T-{c}-{k % 3}",
                         self.at(day, hour + self.rng.random()))

    def big_purchases(self, day: int) -> None:
        """Genuine: three customers a day buy something several times their usual amount at a shop new to them
        (what the champion learnt to fear)."""
        for i, c in enumerate(self.rng.sample(USUAL, 3)):
            self.pay(f"{c}-big-d{day}", c, 3000 * self.rng.randrange(4, 9), f"T-BIG-{c}-d{day}",
                     self.at(day, 11.0 + i / 3))

    def night_fraud(self, tx_id: str, customer: str, ts: float) -> events_pb2.Transaction:
        tx = self.pay(tx_id, customer, 2800 + self.rng.randrange(0, 800), f"T-NIGHT-{tx_id}", ts)
        self.frauds.append(tx)
        return tx

    def chargebacks(self, until: float) -> int:
        sent = 0
        for tx in self.frauds:
            made = tx.timestamp.seconds
            if made + 7 * DAY <= until:
                fb = events_pb2.FraudFeedback(
                    transaction_id=tx.id, customer_id=tx.customer_id, card_token=tx.card_token,
                    terminal_id=tx.terminal_id, merchant_id=tx.merchant.id, confirmed_fraud=True,
                    answered_at=Timestamp(seconds=int(made + 7 * DAY)), transaction_time=Timestamp(seconds=made))
                self.producer.send(self.settings.topic(FRAUD_FEEDBACK), key=tx.customer_id.encode(),
                                   value=fb.SerializeToString())
                sent += 1
        return sent

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


def _count(svc: ServiceThread, sql: str) -> int:
    return int(rows(svc.app.store, sql)[0][0])


def _alerted(svc: ServiceThread) -> set[str]:
    return {r[0] for r in rows(svc.app.store, "SELECT transaction_id FROM fraud_alerts")}


def _samples(svc: ServiceThread, name: str) -> list:
    return [s for m in svc.app.registry.collect() for s in m.samples if s.name == name]


def _roles(svc: ServiceThread) -> dict[str, str]:
    return {s.labels["role"]: s.labels["version"] for s in _samples(svc, "proactivecare_fraud_model_info")
            if s.value == 1}


def _counter(svc: ServiceThread, name: str, label: str, value: str) -> float:
    return sum(s.value for s in _samples(svc, name) if s.labels.get(label) == value)


@pytest.fixture
def model_dir(fraud_model_dir: Path, tmp_path: Path) -> Path:
    """The session's default model as this test's champion, in a directory of the test's own."""
    return Path(shutil.copytree(fraud_model_dir, tmp_path / "models"))


def test_a_drifted_fraud_pattern_makes_the_challenger_win_and_take_over_without_a_restart(
        settings: Settings, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_MODEL_RELOAD_SECONDS", "0")  # look at the model roles before every batch
    policy = load_policy()
    champion = version_of(model_dir, CHAMPION)
    traffic = Traffic(settings)
    with ServiceThread(SERVICE.build(settings, model_dir=model_dir), settings) as svc:
        # -- the history: ordinary spending; from day 8 fraudsters pay usual amounts at night at new shops ---------
        for day in range(HISTORY_DAYS):
            traffic.usual_day(day)
            traffic.big_purchases(day)
            if day >= DRIFT_FROM:
                for i in range(2):
                    traffic.night_fraud(f"NF-d{day}-{i}", traffic.rng.choice(CUSTOMERS),
                                        traffic.at(day, 2.0 + 2 * i + traffic.rng.random()))
        traffic.flush()
        assert wait_for(lambda: _count(svc, "SELECT COUNT(*) FROM fraud_scored_history") == traffic.sent, 60)
        # the chargebacks (7 days after each fraud) once the payments are in: in compressed time they would
        # otherwise reach the features of payments made before them, in a different order each run
        chargebacks = traffic.chargebacks(until=traffic.at(HISTORY_DAYS, 0))
        traffic.flush()
        assert wait_for(lambda: _count(svc, "SELECT COUNT(*) FROM fraud_history_labels") == chargebacks, 30)
        missed = {tx.id for tx in traffic.frauds} - _alerted(svc)
        assert len(missed) > 0.8 * len(traffic.frauds)  # the drift: the champion lets most of them through

        # -- a challenger from that history; kept in shadow: it scores beside the champion, decides nothing ------
        shadowed = retrain(svc.app.store, model_dir, policy, "logistic_regression", promote_allowed=False)
        assert shadowed["decision"]["promote"] and not shadowed["decision"]["promoted"]
        assert version_of(model_dir, CHAMPION) == champion
        in_shadow = version_of(model_dir, CHALLENGER)
        assert in_shadow == shadowed["challenger"]["version"]
        report = shadowed["report"]
        assert {"champion", "challenger", "features", "windows", "data_volumes"} <= set(shadowed)
        assert shadowed["data_volumes"]["evaluation_frauds"] >= policy.promotion.min_frauds
        assert shadowed["label_delays_days"]["chargeback"] == 7.0  # the labels' true delay
        assert Path(report).exists()

        before = len(traffic.frauds)
        shadow_frauds = [traffic.night_fraud(f"NS-{i}", c, traffic.at(HISTORY_DAYS, 2.0 + i / 10))
                         for i, c in enumerate(SHADOWED)]
        traffic.usual_day(HISTORY_DAYS, hours=(7.0, 8.0), customers=USUAL)
        traffic.flush()
        assert wait_for(lambda: _count(svc, "SELECT COUNT(*) FROM fraud_scored_history") == traffic.sent, 60)
        assert _roles(svc) == {"champion": champion, "challenger": in_shadow}
        shadow_rows = rows(svc.app.store, "SELECT tx_id, champion_score, challenger_score, challenger_version"
                                          " FROM fraud_scored_history WHERE tx_id LIKE 'NS-%'")
        higher = _counter(svc, "proactivecare_fraud_shadow_decisions_total", "agreement", "challenger_higher")
        assert higher >= len(shadow_frauds), (shadow_rows, _samples(svc, "proactivecare_fraud_shadow_decisions_total"))
        assert {r[3] for r in shadow_rows} == {in_shadow}
        assert all(r[2] >= policy.challenge_threshold for r in shadow_rows)  # the challenger would alert them ...
        quiet = {r[0] for r in shadow_rows if r[1] < policy.challenge_threshold}
        assert quiet and not quiet & _alerted(svc)  # ... but the champion decides: no alert where it saw none

        # -- promoted while the stream flows: every alert of the traffic through the swap raised once ------------
        canaries: list[str] = []

        def flowing() -> None:
            for i, hour in enumerate(x / 4 for x in range(36, 60)):  # 09:00 .. 14:45, a quarter-hour apart
                for c in USUAL:
                    traffic.pay(f"{c}-flow-{i}", c, 3000, f"T-{c}-0", traffic.at(HISTORY_DAYS, hour))
                canary, c = f"CANARY-{i}", SHADOWED[i % len(SHADOWED)]
                traffic.pay(canary, c, CANARY_MINOR, f"T-{c}-1", traffic.at(HISTORY_DAYS, hour))
                canaries.append(canary)
                traffic.flush()

        producer = threading.Thread(target=flowing)
        producer.start()
        promoted = retrain(svc.app.store, model_dir, policy, "logistic_regression")
        producer.join()
        assert promoted["decision"]["promoted"], promoted["decision"]
        shadow = promoted["previous_challenger_in_shadow"]  # the live agreement of the one it replaces
        assert shadow["version"] == in_shadow and shadow["payments"] >= len(shadow_frauds)
        assert shadow["payments"] - shadow["same_alert_decision"] >= len(shadow_frauds)
        new_champion = promoted["challenger"]["version"]
        assert version_of(model_dir, CHAMPION) == new_champion and version_of(model_dir, PREVIOUS) == champion
        metrics = promoted["challenger"]["metrics"], promoted["champion"]["metrics"]
        assert metrics[0]["average_precision"] >= metrics[1]["average_precision"] + policy.promotion.margin

        late = [traffic.night_fraud(f"NL-{i}", c, traffic.at(HISTORY_DAYS, 4.0 + i / 10))
                for i, c in enumerate(LATE)]
        traffic.flush()
        assert wait_for(lambda: _count(svc, "SELECT COUNT(*) FROM fraud_scored_history") == traffic.sent, 60)
        assert _roles(svc) == {"champion": new_champion}  # no restart: the running worker took it up
        assert _counter(svc, "proactivecare_fraud_model_events_total", "event", "promoted") == 1
        assert {tx.id for tx in late} <= _alerted(svc)  # the drifted frauds are caught from now on
        assert set(canaries) <= _alerted(svc)
        alerts = _count(svc, "SELECT COUNT(*) FROM fraud_alerts")
        notes = [events_pb2.Notification.FromString(r.value)
                 for r in read_topic(settings, NOTIFICATIONS, expect=alerts, timeout=30)]
        ids = [n.data["transaction_id"] for n in notes]
        assert len(ids) == len(set(ids)) == alerts  # no alert lost, none doubled
        assert sorted(i for i in ids if i.startswith("CANARY-")) == sorted(canaries)
        assert len(traffic.frauds) == before + len(shadow_frauds) + len(late)

        # -- one command back to the previous champion, taken up live as well -----------------------------------
        assert rollback(model_dir) == (champion, new_champion)
        traffic.pay("after-rollback", USUAL[0], 3000, f"T-{USUAL[0]}-0", traffic.at(HISTORY_DAYS, 15.0))
        traffic.flush()
        assert wait_for(lambda: _count(svc, "SELECT COUNT(*) FROM fraud_scored_history") == traffic.sent, 60)
        assert _roles(svc) == {"champion": champion}
        assert _counter(svc, "proactivecare_fraud_model_events_total", "event", "rolled_back") == 1
    traffic.close()
