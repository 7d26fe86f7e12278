"""The fraud model artifact: a scikit-learn estimator saved with skops (no code runs on load, unlike pickle)
beside a JSON sidecar (model card) naming its features, training window, metrics and version.

Loading checks the file's digest against the sidecar and refuses any type outside a short allow-list.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from services.fraud.calibration import check_share, prior_shift, trained_share
from services.fraud.features import FEATURE_INDEX, FEATURE_NAMES
from services.fraud.trees import compiled_or_none

DEFAULT_MODEL_DIR = "var/models/fraud"
MODEL_DIR_ENV = "FRAUD_MODEL_DIR"
LATEST_FILE = "LATEST"

# Types skops does not trust by default that our three model families need; anything else is refused.
TRUSTED_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})


class ModelArtifactError(Exception):
    """The artifact is missing, altered, or holds a type we do not trust."""


@dataclass(frozen=True)
class ModelCard:
    version: str
    algorithm: str
    features: list[str]
    feature_config: dict[str, Any]
    training_window: dict[str, str]  # {"start": ISO date, "end": ISO date (exclusive)}
    metrics: dict[str, Any]
    created_at: str
    sha256: str = ""
    library_versions: dict[str, str] = field(default_factory=dict)
    # set by `fraud calibrate`: {"bank_fraud_share", "trained_fraud_share", "labelled_frauds", "card_payments",
    # "calibrated_from"}: scores are then the bank's probabilities (calibration.py)
    calibration: dict[str, Any] = field(default_factory=dict)


class FraudModel:
    """A fitted estimator plus its card; `score` takes the engine's full feature matrix. Tree ensembles are
    served by their compiled flat form (`trees.py`) once it agrees with scikit-learn."""

    def __init__(self, estimator: Any, card: ModelCard) -> None:
        unknown = [f for f in card.features if f not in FEATURE_INDEX]
        if unknown:
            raise ModelArtifactError(f"model uses features this code does not compute: {unknown}")
        self.estimator = estimator
        self.card = card
        self._columns = np.array([FEATURE_INDEX[f] for f in card.features], dtype=np.intp)
        self.compiled = compiled_or_none(estimator, len(card.features))
        shares = card.calibration
        self._shift = ((float(shares["trained_fraud_share"]), float(shares["bank_fraud_share"]))
                       if shares else None)

    @property
    def version(self) -> str:
        return self.card.version

    def score(self, features: np.ndarray) -> np.ndarray:
        """Fraud probability 0..1 for each row of a (n, len(FEATURE_NAMES)) matrix: one model call."""
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected (n, {len(FEATURE_NAMES)}) features, got {features.shape}")
        if len(features) == 0:
            return np.empty(0)
        if self.compiled is not None:
            scores = self.compiled.predict(features[:, self._columns])
        else:
            scores = self.estimator.predict_proba(features[:, self._columns])[:, 1]
        return scores if self._shift is None else prior_shift(scores, *self._shift)


class _NoScore:
    """The estimator of the rules-only model: every payment scores 0, so only the policy's rules alert."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(x)), np.zeros(len(x))])


RULES_ONLY = "rules-only"


def rules_only_model() -> FraudModel:
    """A stand-in while the first model trains (`make run`, development only): the policy's rules (e.g. an
    amount over the always-check limit, a frozen card) alert; nothing is scored by a model."""
    return FraudModel(_NoScore(), ModelCard(version=RULES_ONLY, algorithm="none", features=list(FEATURE_NAMES),
                                            feature_config={}, training_window={}, metrics={}, created_at=""))


def model_dir_from_env() -> Path:
    return Path(os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_DIR))


def calibrated(model: FraudModel, bank_share: float, frauds: int, card_payments: int, source: str) -> FraudModel:
    """`model` with its scores calibrated to a bank whose labelled history (`source`) holds `frauds` frauds in
    `card_payments` card payments: a new version, the same estimator."""
    trained = trained_share(model.card.metrics)
    if trained is None:
        raise ModelArtifactError(f"{model.version}'s card does not say its training fraud share: train it again")
    check_share(bank_share, frauds)
    calibration = {"bank_fraud_share": round(bank_share, 6), "trained_fraud_share": round(trained, 6),
                   "labelled_frauds": frauds, "card_payments": card_payments, "calibrated_from": source}
    base = model.version.split("-bank", 1)[0]
    card = replace(model.card, version=f"{base}-bank{round(bank_share * 1e4)}bp", sha256="", calibration=calibration)
    return FraudModel(model.estimator, card)


def save_model(model: FraudModel, directory: str | Path, latest: bool = True) -> Path:
    """Write `<version>.skops` and `<version>.json` and (`latest`) point LATEST at them; returns the .skops path.
    A retrained challenger is saved without `latest`: it serves only once promoted (`model_slots.py`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model.version}.skops"
    sio.dump(model.estimator, path)
    card = ModelCard(**{**asdict(model.card), "sha256": _sha256(path)})
    (directory / f"{model.version}.json").write_text(json.dumps(asdict(card), indent=2, sort_keys=True) + "\n")
    if latest:
        (directory / LATEST_FILE).write_text(model.version + "\n")
    return path


def load_model(location: str | Path) -> FraudModel:
    """Load from a directory (its LATEST version) or a `.skops` file with its `.json` sidecar beside it."""
    location = Path(location)
    if location.is_dir():
        latest = location / LATEST_FILE
        if not latest.exists():
            raise ModelArtifactError(f"no model in {location}: run `proactive-care fraud train` first")
        location = location / f"{latest.read_text().strip()}.skops"
    sidecar = location.with_suffix(".json")
    if not location.exists() or not sidecar.exists():
        raise ModelArtifactError(f"model file or sidecar missing: {location}")
    card = ModelCard(**json.loads(sidecar.read_text()))
    if card.sha256 and card.sha256 != _sha256(location):
        raise ModelArtifactError(f"{location} does not match the digest in its sidecar")
    untrusted = set(sio.get_untrusted_types(file=location))
    refused = sorted(untrusted - TRUSTED_TYPES)
    if refused:
        raise ModelArtifactError(f"{location} holds types outside the allow-list: {refused}")
    estimator = sio.load(location, trusted=sorted(untrusted))
    return FraudModel(estimator, card)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
