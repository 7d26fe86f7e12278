"""Tree ensembles flattened into arrays and walked by one compiled loop: the model call of a small batch.

scikit-learn walks a HistGradientBoosting model one tree at a time from Python (~10 us a tree: 3 ms for 300 trees
whatever the batch), which is most of an authorization's latency. Here every tree of the ensemble is one set of
node arrays, and a numba-compiled loop (no GIL held) walks all rows through all trees: tens of microseconds for a
micro-batch. Same comparisons as scikit-learn (`x <= threshold` goes left; NaN follows the learnt side; a random
forest sees float32 inputs, as its trees do), checked against scikit-learn's own `predict_proba` when loaded:
a model that does not agree is served by scikit-learn instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

LEAF = -1
AGREEMENT = 1e-9  # largest difference from scikit-learn's probability allowed on the probe rows


@njit(nogil=True)
def _walk(x: np.ndarray, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
          missing_left: np.ndarray, value: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Sum over trees of the leaf value each row reaches (compiled; runs without the GIL)."""
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        total = 0.0
        for root in roots:
            node = root
            while left[node] != LEAF:
                v = x[i, feature[node]]
                if np.isnan(v):
                    node = left[node] if missing_left[node] else right[node]
                elif v <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            total += value[node]
        out[i] = total
    return out


@dataclass(frozen=True)
class FlatEnsemble:
    """All trees' nodes in one set of arrays; `predict` gives P(fraud) for a (n, features) matrix."""

    kind: str  # "boosting": sigmoid(baseline + sum of leaves); "forest": mean of the leaves' fraud fractions
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    n_features: int
    baseline: float = 0.0
    fill: np.ndarray | None = None  # a SimpleImputer's statistics, applied first

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64, order="C")  # a copy (imputation writes into it), one compiled layout
        if x.ndim != 2 or x.shape[1] != self.n_features:  # the compiled loop does no bounds checks
            raise ValueError(f"expected (n, {self.n_features}) rows, got {x.shape}")
        if self.fill is not None:
            missing = np.isnan(x)
            x[missing] = np.broadcast_to(self.fill, x.shape)[missing]
        if self.kind == "forest":
            x = x.astype(np.float32).astype(np.float64)  # the trees compare float32 inputs
        total = _walk(x, self.feature, self.threshold, self.left, self.right, self.missing_left, self.value,
                      self.roots)
        if self.kind == "forest":
            return total / len(self.roots)
        return 1.0 / (1.0 + np.exp(-(self.baseline + total)))


def flatten(estimator: Any) -> FlatEnsemble | None:
    """The flat form of a fitted binary HistGradientBoosting or random forest (optionally after a
    SimpleImputer in a Pipeline), or None for anything else (served by scikit-learn as is)."""
    fill = None
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps]
        if len(steps) != 2 or not isinstance(steps[0], SimpleImputer) or steps[0].add_indicator:
            return None
        fill, estimator = np.asarray(steps[0].statistics_, dtype=np.float64), steps[1]
    if len(getattr(estimator, "classes_", ())) != 2:
        return None
    if isinstance(estimator, HistGradientBoostingClassifier):
        return _from_boosting(estimator, fill)
    if isinstance(estimator, RandomForestClassifier):
        return _from_forest(estimator, fill)
    return None


def _from_boosting(model: HistGradientBoostingClassifier, fill: np.ndarray | None) -> FlatEnsemble | None:
    parts: list[tuple[np.ndarray, ...]] = []
    offset = 0
    for (predictor,) in model._predictors:  # binary: one tree per iteration
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            return None
        leaf = nodes["is_leaf"].astype(bool)
        left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)  # stored unsigned
        parts.append((nodes["feature_idx"], nodes["num_threshold"], np.where(leaf, LEAF, left + offset),
                      np.where(leaf, LEAF, right + offset), nodes["missing_go_to_left"].astype(bool),
                      nodes["value"], np.array([offset])))
        offset += len(nodes)
    return _assemble("boosting", parts, model.n_features_in_, float(np.ravel(model._baseline_prediction)[0]), fill)


def _from_forest(model: RandomForestClassifier, fill: np.ndarray | None) -> FlatEnsemble:
    parts: list[tuple[np.ndarray, ...]] = []
    offset = 0
    positive = list(model.classes_).index(1) if 1 in model.classes_ else 1
    for tree in model.estimators_:
        t = tree.tree_
        leaf = t.children_left < 0
        counts = t.value[:, 0, :]
        missing_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8)).astype(bool)
        parts.append((t.feature, t.threshold, np.where(leaf, LEAF, t.children_left + offset),
                      np.where(leaf, LEAF, t.children_right + offset), missing_left,
                      counts[:, positive] / counts.sum(axis=1), np.array([offset])))
        offset += t.node_count
    return _assemble("forest", parts, model.n_features_in_, 0.0, fill)


def _assemble(kind: str, parts: list[tuple[np.ndarray, ...]], n_features: int, baseline: float,
              fill: np.ndarray | None) -> FlatEnsemble:
    feature, threshold, left, right, missing_left, value, roots = (np.concatenate(c) for c in zip(*parts, strict=True))
    return FlatEnsemble(kind, np.maximum(feature, 0).astype(np.int64), threshold.astype(np.float64),
                        left.astype(np.int64), right.astype(np.int64), missing_left.astype(np.bool_),
                        value.astype(np.float64), roots.astype(np.int64), int(n_features), baseline, fill)


def probe_rows(flat: FlatEnsemble, n_features: int, n: int = 256, seed: int = 0) -> np.ndarray:
    """Rows that exercise the ensemble's splits: each value near a threshold the model uses, some NaN."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, n_features))
    inner = flat.left != LEAF
    for j in range(n_features):
        cuts = flat.threshold[inner & (flat.feature == j) & np.isfinite(flat.threshold)]  # inf: "only NaN right"
        if len(cuts):
            rows[:, j] = rng.choice(cuts, n) + rng.choice([-1e-6, 0.0, 1e-6], n)
    rows[rng.random(rows.shape) < 0.05] = np.nan
    return rows


def well_formed(flat: FlatEnsemble, n_features: int) -> bool:
    """Every child after its parent (so every walk ends at a leaf) and every index in range: the compiled loop
    does no bounds checks."""
    n = len(flat.left)
    inner = np.flatnonzero(flat.left != LEAF)
    return bool(
        all(len(a) == n for a in (flat.feature, flat.threshold, flat.right, flat.missing_left, flat.value))
        and len(flat.roots) > 0 and flat.roots.min() >= 0 and flat.roots.max() < n
        and np.all((flat.left == LEAF) == (flat.right == LEAF))
        and np.all(flat.left[inner] > inner) and np.all(flat.right[inner] > inner)
        and np.all(flat.left[inner] < n) and np.all(flat.right[inner] < n)
        and np.all(flat.feature[inner] < n_features)
        and (flat.fill is None or len(flat.fill) == n_features))


def compiled_or_none(estimator: Any, n_features: int) -> FlatEnsemble | None:
    """The flat ensemble when it agrees with scikit-learn on probe rows (also compiles the loop), else None."""
    flat = flatten(estimator)
    if flat is None:
        return None
    if flat.n_features != n_features or not well_formed(flat, n_features):
        log.error("the model's trees are not well formed: serving with scikit-learn")
        return None
    probe = probe_rows(flat, n_features)
    expected = estimator.predict_proba(probe)[:, 1]
    difference = float(np.max(np.abs(flat.predict(probe) - expected)))
    if difference > AGREEMENT:
        log.error("compiled trees differ from scikit-learn by %.3g: serving with scikit-learn", difference)
        return None
    return flat
