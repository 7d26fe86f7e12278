"""The worker's side of champion and challenger, on real model files: a promoted model is taken up at the next
look (never sooner than the reload interval), one that does not load or does not fit the features served is refused
and the champion kept, and the challenger's shadow scores are counted and kept, deciding nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from services.fraud.features import FEATURE_NAMES, FeatureConfig
from services.fraud.live_models import LiveModels
from services.fraud.metrics import FraudMetrics
from services.fraud.model import RULES_ONLY, FraudModel, load_model, rules_only_model, save_model
from services.fraud.model_slots import install_challenger, promote, save_challenger
from services.fraud.offline.training import fit, wrap
from services.fraud.policy import load_policy
from services.fraud.scoring import FraudScorer
from tests.unit.fraud.builders import DAY, T0, tx

NAMES = ["tx_amount"]


def _model(direction: float, delay_days: float = 7.0) -> FraudModel:
    """A tiny model: big amounts are fraud (direction 1) or small ones are (direction -1)."""
    x = np.zeros((40, len(FEATURE_NAMES)))
    x[:, FEATURE_NAMES.index("tx_amount")] = np.r_[np.full(30, 20.0), np.full(10, 900.0)]
    y = (np.r_[np.zeros(30), np.ones(10)] if direction > 0 else np.r_[np.ones(30), np.zeros(10)]).astype(int)
    window = (dt.date(2026, 11, 1), dt.date(2026, 11, 15))
    return wrap(fit("logistic_regression", x, y, NAMES), "logistic_regression", NAMES,
                FeatureConfig(label_delay_days=delay_days), window, {})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def live(tmp_path: Path) -> tuple[LiveModels, FraudScorer, CollectorRegistry, Clock]:
    save_model(_model(1.0), tmp_path)
    registry, clock = CollectorRegistry(), Clock()
    scorer = FraudScorer(load_model(tmp_path), load_policy())
    return LiveModels(tmp_path, scorer, FraudMetrics.create(registry), reload_seconds=5.0, clock=clock), scorer, \
        registry, clock


def _roles(registry: CollectorRegistry) -> dict[str, str]:
    return {s.labels["role"]: s.labels["version"] for m in registry.collect() for s in m.samples
            if s.name == "proactivecare_fraud_model_info" and s.value == 1}


def test_a_promoted_model_serves_from_the_next_look_after_the_reload_interval(live) -> None:
    models, scorer, registry, clock = live
    first = scorer.model.version
    promoted = save_challenger(_model(-1.0), models.directory)
    promote(models.directory, promoted.version)
    clock.now = 4.0
    models.refresh()
    assert scorer.model.version == first  # not looked yet
    clock.now = 5.0
    models.refresh()
    assert scorer.model.version == promoted.version and _roles(registry) == {"champion": promoted.version}
    assert registry.get_sample_value("proactivecare_fraud_model_events_total", {"event": "promoted"}) == 1


def test_a_model_that_does_not_load_or_fit_the_features_is_refused(live, caplog) -> None:
    models, scorer, registry, clock = live
    first = scorer.model.version
    other_delay = save_challenger(_model(-1.0, delay_days=3.0), models.directory)
    promote(models.directory, other_delay.version)
    clock.now = 10.0
    models.refresh()
    assert scorer.model.version == first and "another label delay" in caplog.text
    altered = save_challenger(_model(-1.0), models.directory)
    sidecar = models.directory / f"{altered.version}.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "sha256": "0" * 64}))
    promote(models.directory, altered.version)
    clock.now = 20.0
    models.refresh()
    assert scorer.model.version == first and "does not match the digest" in caplog.text
    caplog.clear()
    clock.now = 30.0
    models.refresh()  # a refused version is not tried (nor logged) again
    assert scorer.model.version == first and caplog.text == ""
    assert _roles(registry) == {"champion": first}
    assert registry.get_sample_value("proactivecare_fraud_model_events_total", {"event": "promoted"}) == 0


def test_the_challenger_scores_in_shadow_and_decides_nothing(live) -> None:
    models, scorer, registry, clock = live
    challenger = save_challenger(_model(-1.0), models.directory)  # the opposite opinion of every payment
    install_challenger(models.directory, challenger.version)
    clock.now = 10.0
    models.refresh()
    assert _roles(registry) == {"champion": scorer.model.version, "challenger": challenger.version}
    events = [tx(f"p{i}", T0 + i * DAY / 10, amount=20.0) for i in range(9)] + [tx("big", T0 + DAY, amount=900.0)]
    features: list[np.ndarray] = []
    decisions = scorer.score(events, features_out=features)
    models.observe(events, features[0], decisions)
    assert decisions[-1].alerts and not any(d.alerts for d in decisions[:-1])  # the champion's decisions
    assert {d.model_version for d in decisions} == {scorer.model.version}

    def shadow(agreement: str) -> float:
        return registry.get_sample_value("proactivecare_fraud_shadow_decisions_total", {"agreement": agreement})

    assert shadow("challenger_higher") == 9 and shadow("champion_higher") == 1 and shadow("agree") == 0
    pending = models._pending
    assert [r.tx_id for r in pending] == [e.tx_id for e in events]
    assert {r.challenger_version for r in pending} == {challenger.version}
    assert all(r.challenger_score > r.champion_score for r in pending[:-1])
    assert pending[0].features.shape == (len(FEATURE_NAMES),)


def test_while_the_rules_alone_score_the_first_trained_model_is_taken_up(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    scorer = FraudScorer(rules_only_model(), load_policy())
    models = LiveModels(tmp_path, scorer, FraudMetrics.create(registry), reload_seconds=0.0)
    models.refresh()
    assert scorer.model.version == RULES_ONLY  # nothing trained yet
    save_model(_model(1.0), tmp_path)  # `make run`'s first training writes LATEST
    models.refresh()
    assert scorer.model.version != RULES_ONLY and _roles(registry) == {"champion": scorer.model.version}
