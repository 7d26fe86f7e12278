"""The model directory's roles: a promotion keeps the champion it replaces, one command rolls back (and a second
one undoes it), a new challenger never serves by itself; and the retraining windows (pure)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from services import cli
from services.fraud.features import FEATURE_NAMES, FeatureConfig
from services.fraud.history import History
from services.fraud.model import FraudModel, load_model, save_model
from services.fraud.model_slots import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    PROMOTED,
    ROLLED_BACK,
    install_challenger,
    last_event,
    promote,
    rollback,
    save_challenger,
    version_of,
)
from services.fraud.offline.retraining import DAY, labels_as_of, windows
from services.fraud.offline.training import fit, wrap
from tests.unit.fraud.builders import T0

NAMES = ["tx_amount", "tx_during_night"]


def _model(seed: int) -> FraudModel:
    rng = np.random.default_rng(seed)
    x = np.zeros((60, len(FEATURE_NAMES)))
    x[:, FEATURE_NAMES.index("tx_amount")] = rng.normal(30, 5, 60)
    x[:, FEATURE_NAMES.index("tx_during_night")] = np.arange(60) % 6 == 0
    y = (np.arange(60) % 6 == 0).astype(int)
    window = (dt.date(2026, 11, 1), dt.date(2026, 11, 15))
    return wrap(fit("logistic_regression", x, y, NAMES), "logistic_regression", NAMES, FeatureConfig(), window, {})


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    save_model(_model(0), tmp_path)  # the champion, as `fraud train` leaves it
    return tmp_path


def test_a_saved_challenger_holds_no_role_and_never_replaces_a_version(directory: Path) -> None:
    champion = version_of(directory, CHAMPION)
    first = save_challenger(_model(1), directory)
    second = save_challenger(FraudModel(first.estimator, first.card), directory)  # same second, same name
    assert first.version != second.version and second.version.startswith(first.version)
    assert version_of(directory, CHAMPION) == champion and version_of(directory, CHALLENGER) is None
    install_challenger(directory, second.version)
    assert version_of(directory, CHALLENGER) == second.version
    assert load_model(directory).version == champion  # LATEST still names the champion


def test_promotion_keeps_the_previous_champion_and_rollback_restores_it_in_one_step(directory: Path) -> None:
    champion = version_of(directory, CHAMPION)
    older = save_challenger(_model(1), directory)
    install_challenger(directory, older.version)
    challenger = save_challenger(_model(2), directory)
    assert promote(directory, challenger.version) == champion
    assert (version_of(directory, CHAMPION), version_of(directory, PREVIOUS)) == (challenger.version, champion)
    assert version_of(directory, CHALLENGER) is None  # the older one in shadow is superseded
    assert last_event(directory, challenger.version) == PROMOTED

    assert cli.main(["fraud", "rollback", "--model-dir", str(directory)]) == 0
    assert (version_of(directory, CHAMPION), version_of(directory, PREVIOUS)) == (champion, challenger.version)
    assert last_event(directory, champion) == ROLLED_BACK
    assert rollback(directory) == (challenger.version, champion)  # a rollback is undone the same way
    events = [json.loads(line)["event"] for line in (directory / "lifecycle.jsonl").read_text().splitlines()]
    assert events == ["challenger_installed", PROMOTED, ROLLED_BACK, ROLLED_BACK]


def test_rollback_without_a_previous_champion_is_refused(directory: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["fraud", "rollback", "--model-dir", str(directory)]) == 2
    assert "no previous champion" in capsys.readouterr().err


def test_windows_end_where_the_labels_are_complete_and_hold_out_the_last_days() -> None:
    as_of = T0 + 40 * DAY + 5 * 3600  # 05:00 on day 40
    w = windows(as_of, delay_days=7, training_days=14, evaluation_days=7)
    assert w.end == T0 + 33 * DAY  # day 33 is not complete: its chargebacks may still come
    assert (w.evaluation_start, w.train_start) == (T0 + 26 * DAY, T0 + 12 * DAY)


def test_a_label_counts_only_from_when_it_arrived() -> None:
    n = 4
    history = History(tx_id=np.array(["a", "b", "c", "d"], dtype=object), ts=np.full(n, T0),
                      features=np.zeros((n, len(FEATURE_NAMES))), champion_score=np.zeros(n),
                      fraud=np.array([1.0, 1.0, 0.0, np.nan]), known_at=np.array([T0 + DAY, T0 + 9 * DAY, T0, np.nan]),
                      source=np.array(["answer", "chargeback", "answer", ""], dtype=object))
    assert labels_as_of(history, T0 + 8 * DAY).tolist() == [1, 0, 0, 0]
    assert labels_as_of(history, T0 + 9 * DAY).tolist() == [1, 1, 0, 0]
