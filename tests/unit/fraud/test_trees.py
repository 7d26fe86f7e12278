"""The compiled flat ensembles give scikit-learn's probabilities, and refuse what they cannot serve."""

import dataclasses

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from services.fraud.trees import LEAF, compiled_or_none, flatten, probe_rows, well_formed


def data(n: int = 3000, k: int = 8, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k))
    y = ((x[:, 0] > 0.8) | (x[:, 1] * x[:, 2] > 1.0)).astype(int)
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values in every column, learnt by both families
    return x, y


def boosting() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, random_state=0)


def forest() -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("model", RandomForestClassifier(n_estimators=30, min_samples_leaf=2, random_state=0))])


def bare_forest() -> RandomForestClassifier:  # scikit-learn's own NaN handling in the trees
    return RandomForestClassifier(n_estimators=20, random_state=0)


@pytest.mark.parametrize("make", [boosting, forest, bare_forest], ids=["hgb", "rf-pipeline", "rf-nan"])
def test_flat_ensemble_gives_scikit_learn_probabilities(make) -> None:
    x, y = data()
    model = make().fit(x[:2000], y[:2000])
    flat = compiled_or_none(model, x.shape[1])
    assert flat is not None
    unseen = x[2000:]
    np.testing.assert_allclose(flat.predict(unseen), model.predict_proba(unseen)[:, 1], rtol=0, atol=1e-12)
    edges = probe_rows(flat, x.shape[1], n=500, seed=7)  # values at and next to the split thresholds
    np.testing.assert_allclose(flat.predict(edges), model.predict_proba(edges)[:, 1], rtol=0, atol=1e-12)
    single = flat.predict(unseen[:1])  # a lone authorization, and a Fortran-ordered slice of a wider matrix
    assert single.shape == (1,)
    wide = np.asfortranarray(np.hstack([unseen, unseen]))[:, : x.shape[1]]
    np.testing.assert_allclose(flat.predict(wide), model.predict_proba(unseen)[:, 1], rtol=0, atol=1e-12)


def test_what_is_not_a_tree_ensemble_is_served_by_scikit_learn() -> None:
    x, y = data()
    lr = Pipeline([("impute", SimpleImputer(add_indicator=True)), ("model", LogisticRegression())]).fit(x, y)
    assert flatten(lr) is None
    assert compiled_or_none(lr, x.shape[1]) is None


def test_rows_of_the_wrong_width_are_refused_not_read_out_of_bounds() -> None:
    x, y = data()
    flat = flatten(boosting().fit(x, y))
    assert flat is not None
    with pytest.raises(ValueError, match="expected"):
        flat.predict(x[:, :3])


def test_malformed_trees_are_refused() -> None:
    x, y = data()
    model = boosting().fit(x, y)
    flat = flatten(model)
    assert flat is not None and well_formed(flat, x.shape[1])
    inner = int(np.flatnonzero(flat.left != LEAF)[0])
    loop = flat.left.copy()
    loop[inner] = inner  # a child pointing back: the walk would never end
    assert not well_formed(dataclasses.replace(flat, left=loop), x.shape[1])
    far = flat.feature.copy()
    far[inner] = x.shape[1] + 5  # a feature the rows do not have
    assert not well_formed(dataclasses.replace(flat, feature=far), x.shape[1])
    assert compiled_or_none(model, x.shape[1] + 1) is None  # a model card naming other features
