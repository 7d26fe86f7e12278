"""One simulated bank's history through the real pipeline twice (`backtest --kafka`: the fraud, advice and mortgage
services' own stream runners on the session's broker): the same fraud alerts, nudges, care offers and advisor
tasks, word for word (issue 10). What differs between the runs is what a live stream varies too: the wall clock,
which payments share a poll batch, how a poll interleaves the partitions (within a day of history: the backtest
produces a day at a time, `through_kafka._produce`), the consumer groups and topics.

Before the backtest dated an alert by its own payment and produced a day at a time, the same bank (60 customers)
gave 23 alerts in one run and not the other, 203 with other reasons and 1,264 dated differently."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from google.protobuf import json_format

from services.backtest.through_kafka import replay_through_kafka
from services.platform.settings import Settings
from services.simulator import events
from services.simulator.bank import build_bank
from services.simulator.bank_config import BankConfig
from services.simulator.handbook import HandbookConfig


def _what_was_said(kafka_settings: Settings, fraud_model_dir: Path, workdir: Path, bank,
                   monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """Every notification and advisor task, whole (reasons, actions, data, times), but for the instant the
    producing service sent it (`origin_produced_at_ms`: the wall clock of this run)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    replayed = replay_through_kafka(list(events.transactions(bank)), list(events.profiles(bank)), workdir,
                                    fraud_model_dir)
    replayed.close()
    assert replayed.not_run == {}
    for note in replayed.notifications:
        note.ClearField("origin_produced_at_ms")
    return (sorted(json_format.MessageToJson(n, sort_keys=True) for n in replayed.notifications),
            sorted(json_format.MessageToJson(t, sort_keys=True) for t in replayed.advisor_tasks))


def test_one_bank_replayed_twice_through_kafka_gets_the_same_alerts_nudges_and_offers(
        kafka_settings: Settings, fraud_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # terminals shared by many customers (on every partition), hardship for a fifth of the customers, in years the
    # mortgage policies are in force
    bank = build_bank(HandbookConfig(n_customers=40, n_terminals=300, n_days=90, seed=7, start_date=date(2025, 1, 6)),
                      BankConfig.for_market("US", hardship_share=0.2))
    first = _what_was_said(kafka_settings, fraud_model_dir, tmp_path / "first", bank, monkeypatch)
    second = _what_was_said(kafka_settings, fraud_model_dir, tmp_path / "second", bank, monkeypatch)
    spoke = Counter(json.loads(n)["source"] for n in first[0])
    assert spoke["fraud"] > 0 and spoke["advice"] > 0 and spoke["mortgage"] > 0, spoke  # every service decided
    assert first[1], "advisor tasks raised"
    assert first == second
