"""Producing to Kafka (with a fake producer), the `simulate` command and the annuity arithmetic."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.gen.proactivecare.v1 import events_pb2
from services.platform.settings import Settings
from services.simulator import annuity, commands, handbook_csv
from services.simulator.bank import build_bank
from services.simulator.handbook import HandbookConfig
from services.simulator.produce import RetryPolicy, produce_bank, send_all


@dataclass
class FakeFuture:
    fail: BaseException | None = None

    def add_errback(self, callback) -> None:  # type: ignore[no-untyped-def]
        if self.fail is not None:
            callback(self.fail)


@dataclass
class FakeProducer:
    fail_every: int = 0
    sent: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    flushes: int = 0

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        assert value is not None and key is not None
        self.sent.append((topic, key, value))
        failed = self.fail_every and len(self.sent) % self.fail_every == 0
        return FakeFuture(RuntimeError("broker down") if failed else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


SMALL = HandbookConfig(n_customers=40, n_terminals=200, n_days=40, seed=5)


def test_profiles_then_transactions_keyed_by_customer() -> None:
    bank = build_bank(SMALL)
    producer = FakeProducer()
    settings = Settings(topic_prefix="t1.")
    results = produce_bank(bank, settings, limit=500, producer=producer)
    assert [r.topic for r in results] == ["t1.customers", "t1.transactions", "t1.fraud-feedback"]
    assert [r.records for r in results] == [40, 500, 0]  # the first days: no chargeback due yet
    profiles, txs = producer.sent[:40], producer.sent[40:]
    assert {t for t, _, _ in profiles} == {"t1.customers"} and {t for t, _, _ in txs} == {"t1.transactions"}
    for _, key, value in profiles:
        assert events_pb2.CustomerProfile.FromString(value).customer_id == key.decode()
    seconds = []
    for _, key, value in txs:
        tx = events_pb2.Transaction.FromString(value)
        assert tx.customer_id == key.decode()
        seconds.append(tx.timestamp.seconds)
    assert seconds == sorted(seconds)
    assert producer.flushes == 2


def test_chargebacks_follow_each_fraud_by_the_delay_in_replay_order() -> None:
    bank = build_bank(SMALL)
    producer = FakeProducer()
    results = produce_bank(bank, Settings(topic_prefix="t2."), producer=producer)
    frauds = {f"tx_{i:09d}" for i in (bank.handbook.transactions.tx_fraud == 1).nonzero()[0].tolist()}
    replay = producer.sent[40:]
    made = {}  # transaction id -> time, as replayed
    order = []  # ("tx", time) or ("cb", due), in send order
    disputed = []
    for topic, key, value in replay:
        if topic == "t2.transactions":
            tx = events_pb2.Transaction.FromString(value)
            made[tx.id] = tx.timestamp.seconds
            order.append(("tx", tx.timestamp.seconds))
            continue
        fb = events_pb2.FraudFeedback.FromString(value)
        assert topic == "t2.fraud-feedback" and fb.customer_id == key.decode() and fb.confirmed_fraud
        assert fb.alert_id == "" and fb.card_token and fb.terminal_id and fb.merchant_id
        assert fb.answered_at.seconds == fb.transaction_time.seconds + 7 * 86_400
        assert made[fb.transaction_id] == fb.transaction_time.seconds  # disputes a payment already replayed
        order.append(("cb", fb.answered_at.seconds))
        disputed.append(fb.transaction_id)
    last = max(made.values())
    assert len(frauds) > 10
    assert sorted(disputed) == sorted(f for f in frauds if made[f] + 7 * 86_400 <= last)  # each due one, once
    assert results[2].records == len(disputed)
    for i, (kind, due) in enumerate(order):  # after every earlier payment, before the first at or after it
        if kind == "cb":
            assert all(t < due for k, t in order[:i] if k == "tx")
            assert next(t for k, t in order[i:] if k == "tx") >= due


def test_send_all_paces_to_the_rate() -> None:
    clock = FakeClock()
    messages = [("tx", f"cust_{i}", events_pb2.Transaction(id=str(i))) for i in range(50)]
    [result] = send_all(FakeProducer(), messages, rate=10.0, clock=clock, sleep=clock.sleep)
    assert result.records == 50
    # 50 records at 10/s: the last one is due 4.9 s after the first.
    assert sum(clock.slept) == pytest.approx(4.9)
    assert result.records_per_second == pytest.approx(50 / 4.9)


def test_send_all_without_rate_never_sleeps() -> None:
    clock = FakeClock()
    messages = [("tx", "k", events_pb2.Transaction(id="x"))] * 20
    send_all(FakeProducer(), messages, clock=clock, sleep=clock.sleep)
    assert clock.slept == []


def test_a_failed_send_is_re_sent_after_a_backoff_and_nothing_is_lost() -> None:
    producer, clock = FakeProducer(fail_every=7), FakeClock()
    messages = [("tx", "k", events_pb2.Transaction(id=str(i))) for i in range(20)]
    [result] = send_all(producer, messages, clock=clock, sleep=clock.sleep)
    assert result.records == 20 and result.failed == 0
    delivered = [events_pb2.Transaction.FromString(v).id for i, (_t, _k, v) in enumerate(producer.sent)
                 if (i + 1) % 7]
    assert sorted(delivered, key=int) == [str(i) for i in range(20)]  # every record, once
    assert len(clock.slept) == 3  # one backoff per failure
    assert all(0.25 <= s <= 0.5 for s in clock.slept)  # the first backoff: [base/2, base]


@dataclass
class BrokerAway(FakeProducer):
    """Every send fails while the broker is away; it comes back after `away_for` producers were made."""

    away_for: int = 0
    made: int = 0

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        future = super().send(topic, value, key)
        if self.made < self.away_for:
            self.sent.pop()
            return FakeFuture(RuntimeError("KafkaTimeoutError: Expiring 1 record(s)"))
        return future

    def close(self, timeout: float | None = None) -> None:
        pass

    def renew(self) -> BrokerAway:
        self.made += 1
        return self


def test_a_broker_away_for_a_while_gets_the_records_re_sent_in_order_on_a_new_producer() -> None:
    producer, clock = BrokerAway(away_for=3), FakeClock()
    messages = [("tx", "k", events_pb2.Transaction(id=str(i))) for i in range(10)]
    [result] = send_all(producer, messages, clock=clock, sleep=clock.sleep, renew=producer.renew)
    assert result.failed == 0
    assert [events_pb2.Transaction.FromString(v).id for _t, _k, v in producer.sent] == [str(i) for i in range(10)]
    assert producer.made == 3
    assert len(clock.slept) == 3  # one backoff before each new producer


class Unanswered:
    """A future whose producer was closed before the broker answered: kafka-python never resolves it."""

    def add_callback(self, callback) -> None:  # type: ignore[no-untyped-def]
        pass

    def add_errback(self, callback) -> None:  # type: ignore[no-untyped-def]
        pass


class Acked(FakeFuture):
    def add_callback(self, callback) -> None:  # type: ignore[no-untyped-def]
        callback(None)


@dataclass
class BrokerKilled(FakeProducer):
    """The first producer's sends are never answered and its flush times out (the broker was killed); the next one
    delivers."""

    made: int = 0

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> FakeFuture:
        if self.made == 0:
            return Unanswered()  # type: ignore[return-value]
        super().send(topic, value, key)
        return Acked()

    def flush(self, timeout: float | None = None) -> None:
        if self.made == 0:
            raise TimeoutError("Timeout waiting for future")

    def close(self, timeout: float | None = None) -> None:
        pass

    def renew(self) -> BrokerKilled:
        self.made += 1
        return self


def test_records_a_dropped_producer_never_answered_for_are_re_sent_not_lost() -> None:
    producer, clock = BrokerKilled(), FakeClock()
    messages = [("tx", "k", events_pb2.Transaction(id=str(i))) for i in range(6)]
    [result] = send_all(producer, messages, clock=clock, sleep=clock.sleep, renew=producer.renew)
    assert (result.records, result.failed) == (6, 0)
    assert [events_pb2.Transaction.FromString(v).id for _t, _k, v in producer.sent] == [str(i) for i in range(6)]


def test_what_cannot_be_delivered_is_counted_not_raised() -> None:
    producer, clock = BrokerAway(away_for=10**9), FakeClock()
    messages = [("tx", "k", events_pb2.Transaction(id=str(i))) for i in range(3)]
    [result] = send_all(producer, messages, clock=clock, sleep=clock.sleep, renew=producer.renew,
                        policy=RetryPolicy(attempts=4, backoff=1.0, max_backoff=4.0))
    assert result.records == 3 and result.failed == 3
    assert producer.sent == []
    assert max(clock.slept) <= 4.0  # capped


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    commands.register(sub)
    args = parser.parse_args(["simulate", *argv])
    return int(args.func(args))


def test_simulate_writes_csv_truth_and_json_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, truth_path = tmp_path / "tx.csv", tmp_path / "truth.jsonl"
    argv = ["--customers", "60", "--terminals", "200", "--days", "40", "--seed", "2", "--stats",
            "--csv", str(csv_path), "--truth", str(truth_path)]
    assert _run_cli(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["config"]["n_customers"] == 60 and out["config"]["start_date"] == "2018-04-01"
    hb = out["handbook"]
    assert hb["n_transactions"] == out["csv"]["rows"] == len(handbook_csv.read_csv(csv_path))
    assert hb["n_fraud"] == sum(hb["scenario_counts"].values())
    assert out["truth"]["records"]["fraud"] == hb["n_fraud"]
    assert out["bank"]["n_customers"] == 60
    assert truth_path.read_text().splitlines()[0].startswith('{"type": "meta"')


def test_simulate_handbook_only_has_no_bank(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["--customers", "30", "--terminals", "100", "--days", "10", "--handbook-only",
                     "--stats"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "bank" not in out and out["handbook"]["n_transactions"] > 0


def test_simulate_refuses_to_produce_without_the_bank() -> None:
    with pytest.raises(SystemExit):
        _run_cli(["--handbook-only", "--produce"])


def test_annuity_formula_known_values() -> None:
    # 200,000.00 at 5.00% over 25 years: 1,169.18 a month.
    assert annuity.annuity_payment(200_000_00, 500, 300) == 1_169_18
    assert annuity.annuity_payment(120_000_00, 0, 240) == 500_00
    principal = annuity.principal_for_payment(1_169_18, 500, 300)
    assert abs(principal - 200_000_00) < 100
    assert abs(annuity.balance_after_payments(200_000_00, 500, 1_169_18, 300)) < 300
    with pytest.raises(ValueError):
        annuity.annuity_payment(1, 500, 0)


def test_simulate_live_starts_today(capsys: pytest.CaptureFixture[str]) -> None:
    before = dt.datetime.now(dt.UTC).date()
    assert _run_cli(["--customers", "20", "--terminals", "100", "--days", "3", "--handbook-only", "--live"]) == 0
    after = dt.datetime.now(dt.UTC).date()
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert dt.date.fromisoformat(out["config"]["start_date"]) in {before, after}
