"""`proactive-care backtest` on a hand-made history of a few customers whose overdraft, missed mortgage payment
and fraud are known: the real handlers (fraud with the session's model, advice, mortgage) and the gateway's
routing run in-process; the report says what the history shows and what care reached whom, and when."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format

from services import cli
from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.platform.settings import Settings
from tests.unit.fraud.builders import card_payment, usual_history
from tests.unit.mortgage.test_worker import profile, stopped_salary, tx

MAY_31 = datetime(2025, 5, 31, tzinfo=UTC).timestamp()


def _mortgage_payments(customer: str) -> list[events_pb2.Transaction]:
    """Paid on the 1st, January to May; June's is never collected (the salary stopped in May)."""
    out = []
    for month in (1, 2, 3, 4, 5):
        t = tx(customer, 200 + month, date(2025, month, 1), 948_97)
        t.channel, t.counterparty_id, t.description = events_pb2.CHANNEL_MORTGAGE_PAYMENT, "lender", "Mortgage"
        out.append(t)
    return out


def _overdrawn(customer: str) -> list[events_pb2.Transaction]:
    """A current account that goes 20.00 below zero once, on 10 May."""
    out = []
    for day, balance in ((5, 50_00), (8, 10_00), (10, -20_00), (12, 80_00)):
        t = tx(customer, 300 + day, date(2025, 5, day), 40_00)
        t.balance_after.CopyFrom(common_pb2.Money(amount_minor=balance, currency="GBP"))
        out.append(t)
    return out


def _frauds(customer: str) -> tuple[list[events_pb2.Transaction], list[str]]:
    """Ordinary card spending, then two payments over the always-check amount: the frauds."""
    usual = usual_history(customer, MAY_31)
    frauds = [card_payment(f"{customer}-f{i}", customer, 520_000 + i, f"T-{customer}-far", MAY_31 + 60 * (i + 1))
              for i in range(2)]
    return usual + frauds, [f.id for f in frauds]


def _line(kind: str, message) -> str:
    return json.dumps({"type": kind, **json_format.MessageToDict(message)})


def _hand_made_history(directory: Path) -> tuple[Path, list[events_pb2.Transaction], int]:
    """M1 misses June's mortgage payment, O1 goes overdrawn once, F1's card is used twice by a fraudster; one
    line is broken. The file, its transactions and its number of lines."""
    card_txs, fraud_ids = _frauds("F1")
    after = [tx("M1", 400 + d, date(2025, 6, d), 10_00) for d in (5, 10, 15)]
    transactions = [*stopped_salary("M1"), *_mortgage_payments("M1"), *after, *_overdrawn("O1"), *card_txs]
    profiles = [profile("M1"), profile("O1", mortgage=False),
                events_pb2.CustomerProfile(customer_id="F1", time_zone="Europe/Paris")]
    lines = [*(_line("transaction", t) for t in transactions), *(_line("profile", p) for p in profiles),
             *(json.dumps({"type": "fraud_label", "transaction_id": i, "fraud": True}) for i in fraud_ids),
             '{"type": "transaction", "id": "broken"}']
    history = directory / "history.jsonl"
    history.write_text("\n".join(lines) + "\n")
    return history, transactions, len(lines)


def test_a_hand_made_history_gives_the_report_its_truth_implies(tmp_path: Path, fraud_model_dir: Path,
                                                                  capsys) -> None:
    history, transactions, n_lines = _hand_made_history(tmp_path)
    out = tmp_path / "report"

    assert cli.main(["backtest", "--transactions", str(history), "--out", str(out),
                     "--model-dir", str(fraud_model_dir)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == json.loads((out / "report.json").read_text())

    assert report["input"] == {"transactions": len(transactions), "profiles": 3, "fraud_labels": 2, "bad_rows": 1,
                               "bad_rows_by_reason": {"transaction.customer_id: is required": 1},
                               "customers": 3, "weeks": report["input"]["weeks"]}
    assert (out / "bad_rows.txt").read_text().startswith(f"history.jsonl:{n_lines}: transaction.customer_id")
    # the history's truth: one overdraft episode (O1, 10 May), one missed mortgage payment (M1, 1 June)
    assert report["shortfall"]["n_overdraft_episodes"] == 1
    care = report["care"]
    assert (care["mortgage_holders"], care["missed_payments"], care["customers_with_missed_payment"]) == (1, 1, 1)
    # the care worker offered help on 29 May, three days before the 1 June payment: recalled, nothing false
    assert care["care_recall_3d"] == 1.0 and care["false_offers"] == 0 and care["offers"] == 1
    fraud = report["fraud"]
    assert (fraud["frauds"], fraud["compromised_cards"]) == (2, 1)
    assert fraud["fraud_recall"] == 1.0 and fraud["cards_alerted_by_2nd_fraud"] == 1.0
    assert fraud["alerts_per_1000_genuine_card_payments"] == 0.0
    # every scored card payment's score, not only the alerts': the two frauds rank above the usual spending
    assert fraud["scored_card_payments"] >= 22 and fraud["auc"] > 0.9 and fraud["average_precision"] > 0.5
    notes = report["notifications"]
    assert notes["by_kind"]["CARE_OFFER"] == 1 and notes["by_kind"]["FRAUD_ALERT"] == 2
    assert sum(notes["routing"].values()) == notes["total"]
    assert notes["last"] < "2025-07-01"  # every notification dated in the history's time, fraud alerts included
    page = (out / "report.html").read_text()
    assert page.count("<img") >= 3 and "data:image/png;base64," in page and "precision and recall" in page
    assert "http://" not in page and "https://" not in page  # one file, no external assets


def test_through_kafka_the_hand_made_history_gives_the_in_process_report(
        tmp_path: Path, fraud_model_dir: Path, kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys) -> None:
    """`--kafka`: the same history produced to the session's broker and consumed by the fraud, advice and mortgage
    services' own stream runners gives the in-process report, figure for figure.

    Within a day of history the partitions come in Kafka's order, not the history's, so fraud's terminal and
    merchant state, which customers share, may see that day's payments of different customers in another order
    (the windows it scores on end a week back, README, "Backtest on your own history"); an alert is dated by its
    own payment on both paths. The routing is the gateway's policy at each notification's own instant on both
    paths."""
    history, _, _ = _hand_made_history(tmp_path)
    reports = {}
    for path, flags in (("in-process", []), ("kafka", ["--kafka"])):
        if flags:
            monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
        assert cli.main(["backtest", "--transactions", str(history), "--out", str(tmp_path / path),
                         "--model-dir", str(fraud_model_dir), *flags]) == 0
        reports[path] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (reports["in-process"].pop("replayed"), reports["kafka"].pop("replayed")) == ("in-process", "kafka")
    assert reports["kafka"]["services_not_run"] == {} and reports["kafka"]["notifications"]["total"] > 0
    assert reports["kafka"] == reports["in-process"]


def test_the_backtest_of_a_simulated_bank_agrees_with_the_evaluations_that_know_its_truth(
        tmp_path: Path, fraud_model_dir: Path, capsys) -> None:
    """`simulate --export-history` then `backtest`: the same overdraft episodes as the simulator's truth, the same
    shortfall figures as `advice evaluate` on the same bank (the same handler, the same order); missed mortgage
    payments a subset of the truth's, the difference only at the ends of the history, where no payment window
    can be judged (PAID_WINDOW_DAYS)."""
    from services.advice.offline.evaluation import EvaluationConfig
    from services.advice.offline.evaluation import run as advice_evaluate
    from services.backtest.truth import PAID_WINDOW_DAYS
    from services.simulator import truth as simulator_truth
    from services.simulator.bank import build_bank
    from services.simulator.bank_config import BankConfig
    from services.simulator.handbook import HandbookConfig
    from services.simulator.history_export import export_history

    config = EvaluationConfig(seed=11, customers=60, days=90)   # a seed and size tuned on by no one
    bank = build_bank(HandbookConfig(n_customers=config.customers, n_terminals=max(1000, 2 * config.customers),
                                     n_days=config.days, seed=config.seed), BankConfig.for_market(config.market))
    history = tmp_path / "history.jsonl"
    export_history(bank, history)
    assert cli.main(["backtest", "--transactions", str(history), "--out", str(tmp_path / "report"),
                     "--model-dir", str(fraud_model_dir)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["input"]["bad_rows"] == 0 and report["services_not_run"] == {}

    records = list(simulator_truth.bank_records(bank))
    episodes = [r for r in records if r["type"] == "overdraft_episode"]
    assert report["shortfall"]["n_overdraft_episodes"] == len(episodes) > 0
    evaluated = advice_evaluate(config, tmp_path)
    for key in ("overdraft_recall_24h", "shortfall_precision", "n_shortfall_nudges"):
        assert report["shortfall"][key] == evaluated[key], key

    missed = {(r["customer_id"], r["due_date"]) for r in records if r["type"] == "missed_payment"}
    first_day = bank.handbook.config.start_date
    last_day = date.fromordinal(first_day.toordinal() + config.days - 1)
    judged = {(c, d) for c, d in missed
              if (date.fromisoformat(d) - first_day).days > PAID_WINDOW_DAYS
              and (last_day - date.fromisoformat(d)).days > PAID_WINDOW_DAYS}
    assert len(judged) <= report["care"]["missed_payments"] <= len(missed)
    labels = [r for r in simulator_truth.handbook_records(bank.handbook) if r["type"] == "fraud"]
    assert report["fraud"]["frauds"] == len(labels) and report["input"]["fraud_labels"] == len(labels)
