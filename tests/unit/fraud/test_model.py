import json
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from services.fraud.features import FEATURE_NAMES, FeatureConfig
from services.fraud.model import ModelArtifactError, load_model, save_model
from services.fraud.offline.training import build_model, compare, usable_features


def data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURE_NAMES)))
    x[:, FEATURE_NAMES.index("km_from_usual_area")] = np.nan  # a source without locations
    y = (x[:, 0] + 0.3 * rng.normal(size=n) > 1.2).astype(int)
    return x, y


def test_features_absent_from_the_data_are_left_out() -> None:
    x, _ = data()
    names = usable_features(x)
    assert "km_from_usual_area" not in names
    assert len(names) == len(FEATURE_NAMES) - 1


def test_compare_ranks_candidates_by_validation_average_precision() -> None:
    x, y = data()
    rows = np.arange(len(y))
    results = compare(x, y, rows < 250, rows >= 250, usable_features(x))
    assert {r.algorithm for r in results} == {"logistic_regression", "random_forest", "hist_gradient_boosting"}
    assert [r.validation_ap for r in results] == sorted((r.validation_ap for r in results), reverse=True)
    assert results[0].validation_ap > 0.5


def test_save_and_load_round_trip_with_sidecar(tmp_path: Path) -> None:
    x, y = data()
    import datetime as dt
    model = build_model("hist_gradient_boosting", x, y, usable_features(x), FeatureConfig(),
                        (dt.date(2018, 7, 25), dt.date(2018, 8, 1)), {"validation_ap": 0.9})
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.version == model.version
    np.testing.assert_allclose(loaded.score(x[:5]), model.score(x[:5]))
    card = json.loads((tmp_path / f"{model.version}.json").read_text())
    assert card["training_window"] == {"start": "2018-07-25", "end": "2018-08-01"}
    assert card["features"] == model.card.features and len(card["sha256"]) == 64


def test_altered_artifact_is_refused(tmp_path: Path) -> None:
    x, y = data()
    import datetime as dt
    model = build_model("logistic_regression", x, y, usable_features(x), FeatureConfig(),
                        (dt.date(2018, 7, 25), dt.date(2018, 8, 1)), {})
    path = save_model(model, tmp_path)
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ModelArtifactError, match="digest"):
        load_model(path)


class Gadget:
    pass


def test_untrusted_types_are_refused(tmp_path: Path) -> None:
    x, y = data()
    import datetime as dt
    model = build_model("logistic_regression", x, y, usable_features(x), FeatureConfig(),
                        (dt.date(2018, 7, 25), dt.date(2018, 8, 1)), {})
    path = save_model(model, tmp_path)
    sio.dump({"model": Gadget()}, path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["sha256"] = ""
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelArtifactError, match="allow-list"):
        load_model(path)


def test_missing_model_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="fraud train"):
        load_model(tmp_path)
