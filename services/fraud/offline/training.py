"""Model candidates and time-ordered model selection.

Three families are compared on the same features: logistic regression (scaled), random forest and
histogram gradient boosting. Selection is time-ordered, as in the Handbook's model selection: each candidate is
fitted on the week two weeks before the training week and scored on the training week (the delay between them
keeps labels realistic); the best by Average Precision is refitted on the training week. Hyper-parameters are
fixed, sensible defaults, not tuned to any dataset.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from services.fraud.features import FEATURE_NAMES, FeatureConfig
from services.fraud.model import FraudModel, ModelCard
from services.platform.errors import ValidationError

SEED = 0


def logistic_regression() -> Any:
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=1.0, max_iter=2000)),
    ])


def random_forest() -> Any:
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("model", RandomForestClassifier(n_estimators=100, min_samples_leaf=2, max_features="sqrt",
                                         n_jobs=2, random_state=SEED)),
    ])


def hist_gradient_boosting() -> Any:
    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=31,
                                          min_samples_leaf=40, l2_regularization=1.0,
                                          early_stopping=False, random_state=SEED)


CANDIDATES: dict[str, Callable[[], Any]] = {
    "logistic_regression": logistic_regression,
    "random_forest": random_forest,
    "hist_gradient_boosting": hist_gradient_boosting,
}


@dataclass(frozen=True)
class CandidateResult:
    algorithm: str
    validation_ap: float
    validation_auc: float
    fit_seconds: float
    estimator: Any = field(repr=False, compare=False, default=None)

    def summary(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "validation_ap": round(self.validation_ap, 4),
                "validation_auc": round(self.validation_auc, 4), "fit_seconds": self.fit_seconds}


def usable_features(features: np.ndarray) -> list[str]:
    """Features with at least one value in this data (a source without locations has none)."""
    present = ~np.isnan(features).all(axis=0)
    return [name for name, ok in zip(FEATURE_NAMES, present, strict=True) if ok]


def fit(algorithm: str, features: np.ndarray, labels: np.ndarray, names: list[str]) -> Any:
    if algorithm not in CANDIDATES:
        raise ValidationError("algorithm", f"unknown algorithm {algorithm!r}; one of {sorted(CANDIDATES)}")
    if labels.min() == labels.max():
        raise ValidationError("labels", "training data needs both fraud and genuine transactions")
    columns = [FEATURE_NAMES.index(n) for n in names]
    estimator = CANDIDATES[algorithm]()
    estimator.fit(features[:, columns], labels)
    _serve_single_threaded(estimator)
    return estimator


def compare(features: np.ndarray, labels: np.ndarray, fit_rows: np.ndarray, valid_rows: np.ndarray,
            names: list[str], algorithms: list[str] | None = None) -> list[CandidateResult]:
    """Fit each candidate on `fit_rows`, score on `valid_rows` (later in time); best first."""
    columns = [FEATURE_NAMES.index(n) for n in names]
    results = []
    for algorithm in algorithms or list(CANDIDATES):
        start = time.perf_counter()
        estimator = fit(algorithm, features[fit_rows], labels[fit_rows], names)
        seconds = time.perf_counter() - start
        scores = estimator.predict_proba(features[valid_rows][:, columns])[:, 1]
        results.append(CandidateResult(
            algorithm, float(average_precision_score(labels[valid_rows], scores)),
            float(roc_auc_score(labels[valid_rows], scores)), round(seconds, 2), estimator))
    return sorted(results, key=lambda r: r.validation_ap, reverse=True)


def build_model(algorithm: str, features: np.ndarray, labels: np.ndarray, names: list[str],
                config: FeatureConfig, window: tuple[dt.date, dt.date], metrics: dict[str, Any]) -> FraudModel:
    """Fit `algorithm` on all given rows and wrap it with its model card."""
    return wrap(fit(algorithm, features, labels, names), algorithm, names, config, window, metrics)


def wrap(estimator: Any, algorithm: str, names: list[str], config: FeatureConfig,
         window: tuple[dt.date, dt.date], metrics: dict[str, Any]) -> FraudModel:
    """A fitted estimator with its model card."""
    now = dt.datetime.now(dt.UTC)
    card = ModelCard(
        version=f"fraud-{now:%Y%m%dT%H%M%SZ}-{algorithm}",
        algorithm=algorithm,
        features=names,
        feature_config=config.to_dict(),
        training_window={"start": window[0].isoformat(), "end": window[1].isoformat()},
        metrics=metrics,
        created_at=now.isoformat(timespec="seconds"),
        library_versions={"scikit-learn": sklearn.__version__, "numpy": np.__version__},
    )
    return FraudModel(estimator, card)


def _serve_single_threaded(estimator: Any) -> None:
    """Fitting uses both cores; scoring a small batch is faster without thread start-up."""
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if hasattr(final, "n_jobs"):
        final.n_jobs = 1
