"""Calibrating a model's scores to a bank's fraud share: the prior shift, its guards, and the calibrated version."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from services.fraud.calibration import MIN_LABELLED_FRAUDS, check_share, prior_shift, trained_share
from services.fraud.features import FeatureConfig
from services.fraud.model import ModelArtifactError, calibrated, load_model, save_model
from services.fraud.offline.training import build_model, usable_features
from tests.unit.fraud.test_model import data


def test_the_prior_shift_moves_the_odds_by_the_ratio_of_the_shares_and_keeps_the_order() -> None:
    scores = np.array([0.0, 0.01, 0.04, 0.5, 0.9, 1.0])
    same = prior_shift(scores, 0.01, 0.01)
    np.testing.assert_allclose(same, scores)
    up = prior_shift(scores, 0.01, 0.1)
    # p = 0.5 at a 1% share is odds 1; at a 10% share, odds (0.1 / 0.9) / (0.01 / 0.99) = 11
    assert up[3] == pytest.approx(11 / 12)
    assert list(np.argsort(up)) == list(np.argsort(scores)) and up[0] == 0.0 and up[-1] == 1.0
    assert (up[1:-1] > scores[1:-1]).all()
    assert (prior_shift(scores, 0.1, 0.01)[1:-1] < scores[1:-1]).all()  # a quieter bank: lower scores


@pytest.mark.parametrize(("share", "frauds", "message"), [
    (0.0, 100, "outside"),
    (0.9, 100, "outside"),
    (0.05, MIN_LABELLED_FRAUDS - 1, "labelled frauds"),
])
def test_a_share_that_cannot_be_trusted_is_refused(share: float, frauds: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_share(share, frauds)


def _model():  # type: ignore[no-untyped-def]
    x, y = data()
    metrics = {"training_frauds": int(y.sum()), "training_rows": len(y)}
    return x, build_model("hist_gradient_boosting", x, y, usable_features(x), FeatureConfig(),
                          (dt.date(2018, 7, 25), dt.date(2018, 8, 1)), metrics)


def test_a_calibrated_model_is_a_new_version_whose_scores_are_the_banks_and_it_survives_a_round_trip(
        tmp_path: Path) -> None:
    x, model = _model()
    trained = trained_share(model.card.metrics)
    assert trained is not None
    bank = calibrated(model, 0.05, 500, 10_000, "history.jsonl")
    assert bank.version == f"{model.version}-bank500bp"
    assert bank.card.calibration == {"bank_fraud_share": 0.05, "trained_fraud_share": round(trained, 6),
                                     "labelled_frauds": 500, "card_payments": 10_000,
                                     "calibrated_from": "history.jsonl"}
    np.testing.assert_allclose(bank.score(x[:20]), prior_shift(model.score(x[:20]), round(trained, 6), 0.05))
    save_model(bank, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.version == bank.version and loaded.card.calibration == bank.card.calibration
    np.testing.assert_allclose(loaded.score(x[:20]), bank.score(x[:20]))
    again = calibrated(loaded, 0.02, 200, 10_000, "later.jsonl")  # from the training share, not the last bank's
    assert again.version == f"{model.version}-bank200bp"
    np.testing.assert_allclose(again.score(x[:20]), prior_shift(model.score(x[:20]), round(trained, 6), 0.02))


def test_a_model_whose_card_does_not_say_its_training_share_cannot_be_calibrated() -> None:
    x, y = data()
    model = build_model("logistic_regression", x, y, usable_features(x), FeatureConfig(),
                        (dt.date(2018, 7, 25), dt.date(2018, 8, 1)), {})
    with pytest.raises(ModelArtifactError, match="training fraud share"):
        calibrated(model, 0.05, 500, 10_000, "history.jsonl")


def _history(path: Path, frauds: int, genuine: int) -> Path:
    """A bank's labelled history in the backtest's JSON-lines format: card payments, the first `frauds` labelled."""

    from google.protobuf.json_format import MessageToDict

    from tests import factories

    lines = []
    for i in range(frauds + genuine):
        tx = factories.transaction(id=f"tx{i}", card_token=f"card{i % 7}")
        lines.append(json.dumps({"type": "transaction", **MessageToDict(tx)}))
        if i < frauds:
            lines.append(json.dumps({"type": "fraud_label", "transaction_id": f"tx{i}", "fraud": True}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_calibrate_command_learns_the_share_from_the_history_and_writes_the_new_version(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli import main

    _x, model = _model()
    save_model(model, tmp_path / "model")
    history = _history(tmp_path / "bank.jsonl", frauds=40, genuine=760)
    assert main(["fraud", "calibrate", "--history", str(history), "--model-dir", str(tmp_path / "model")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["bank_fraud_share"] == 0.05 and out["labelled_frauds"] == 40 and out["card_payments"] == 800
    assert load_model(tmp_path / "model").version == f"{model.version}-bank500bp"  # LATEST moved to it
    too_few = _history(tmp_path / "small.jsonl", frauds=5, genuine=95)
    assert main(["fraud", "calibrate", "--history", str(too_few), "--model-dir", str(tmp_path / "model")]) == 2
    assert "labelled frauds" in capsys.readouterr().err
