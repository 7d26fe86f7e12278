"""`proactive-care fraud retrain` on a real store (SQLite, as the CLI opens it from the environment): the labelled
history a worker recorded becomes a challenger, compared with the champion on the held-out days, with a report;
without enough labels no challenger is made and the champion stays; the scheduled job does the same inside the
service."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from services import cli
from services.fraud.app import SERVICE, retrain_on_schedule
from services.fraud.features import FEATURE_NAMES
from services.fraud.history import CHARGEBACK, HistoryRepository, LabelRow, ScoredRow
from services.fraud.lifecycle_settings import LifecycleSettings
from services.fraud.metrics import FraudMetrics
from services.fraud.model_slots import CHALLENGER, CHAMPION, PREVIOUS, version_of
from services.platform.settings import Settings
from services.platform.storage import Store
from tests.unit.fraud.builders import T0

DAY = 86400.0


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fraud_model_dir: Path) -> Iterator[tuple[Store, Path]]:
    monkeypatch.setenv("PROACTIVE_CARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("FRAUD_RETRAIN_ALGORITHM", "logistic_regression")
    models = Path(shutil.copytree(fraud_model_dir, tmp_path / "models"))
    store = Store.for_service(Settings.from_env(), "fraud")
    store.migrate(SERVICE.migrations)
    yield store, models
    store.close()


def _record(store: Store, days: int, frauds_a_day: int) -> None:
    """Four ordinary payments a customer a day for 40 customers; frauds at night, charged back 7 days later."""
    rng = np.random.default_rng(7)
    amount, night = FEATURE_NAMES.index("tx_amount"), FEATURE_NAMES.index("tx_during_night")
    rows, labels = [], []
    for day in range(days):
        for i in range(160 + frauds_a_day):
            x = np.zeros(len(FEATURE_NAMES))
            fraud = i >= 160
            x[amount], x[night] = rng.normal(30, 8), float(fraud)
            ts = T0 + day * DAY + (3 if fraud else 12) * 3600 + i
            rows.append(ScoredRow(f"d{day}-{i}", ts, x, "champion", 0.01))
            if fraud:
                labels.append(LabelRow(f"d{day}-{i}", True, ts + 7 * DAY, CHARGEBACK))
    with store.transaction() as tx:
        HistoryRepository(tx).record(rows)
        HistoryRepository(tx).add_labels(labels)


def test_retrain_makes_a_challenger_from_the_stored_history_and_reports(cli_env, capsys) -> None:
    store, models = cli_env
    champion = version_of(models, CHAMPION)
    _record(store, days=35, frauds_a_day=2)
    assert cli.main(["fraud", "retrain", "--model-dir", str(models), "--shadow-only"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["decision"]["promote"] and not out["decision"]["promoted"]  # it would win; told to shadow
    assert version_of(models, CHAMPION) == champion and version_of(models, CHALLENGER) == out["challenger"]["version"]
    report = json.loads(Path(out["report"]).read_text())
    assert report["data_volumes"]["evaluation_rows"] == 7 * 162 and report["data_volumes"]["evaluation_frauds"] == 14
    assert report["windows"]["evaluation"]["end"] < report["windows"]["as_of"]
    assert report["label_delays_days"] == {"answer": None, "chargeback": 7.0}
    assert set(report["challenger"]["metrics"]) == set(report["champion"]["metrics"]) >= {"average_precision"}


def test_without_enough_labels_no_challenger_is_made_and_old_history_is_forgotten(cli_env, capsys,
                                                                                     monkeypatch) -> None:
    store, models = cli_env
    monkeypatch.setenv("FRAUD_HISTORY_DAYS", "20")
    _record(store, days=35, frauds_a_day=0)
    assert cli.main(["fraud", "retrain", "--model-dir", str(models)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["challenger"] is None and out["decision"]["reason"] == "too_few_labels"
    assert version_of(models, CHALLENGER) is None
    with store.read() as tx:
        oldest, latest = tx.one("SELECT MIN(ts), MAX(ts) FROM fraud_scored_history")
    assert latest - 20 * DAY <= oldest < latest - 19 * DAY  # the last 20 days kept, nothing before


def test_the_scheduled_job_retrains_in_the_service_and_counts_its_runs(cli_env) -> None:
    store, models = cli_env
    champion = version_of(models, CHAMPION)
    _record(store, days=35, frauds_a_day=2)
    registry = CollectorRegistry()
    job = retrain_on_schedule(models, LifecycleSettings(retrain_every_seconds=0.01,
                                                        retrain_algorithm="logistic_regression"),
                              FraudMetrics.create(registry))

    def runs(outcome: str) -> float:
        return registry.get_sample_value("proactivecare_fraud_retrain_runs_total", {"outcome": outcome}) or 0.0

    async def until_promoted() -> None:
        task = asyncio.create_task(job())
        try:
            while runs("promoted") < 1 and not task.done():
                await asyncio.sleep(0.05)
        finally:
            task.cancel()

    asyncio.run(asyncio.wait_for(until_promoted(), timeout=120))
    assert runs("promoted") == 1 and runs("failed") == 0
    assert version_of(models, CHAMPION) != champion and version_of(models, PREVIOUS) == champion
