"""The Handbook's protocol on any Handbook-column dataset, through the service's own feature code.

1. Replay the data (labels after the delay) and compare the candidates with time-ordered validation: fit on
   the week two weeks before the training week, score the training week; keep the best by Average Precision.
2. Refit the best on the training week; score the test week (known-compromised cards removed): AUC ROC,
   Average Precision, Card Precision@100.
3. With feedback (`feedback_days` = N): replay again with a model in the loop. Until the end of the training
   week the validation model (fitted two weeks earlier: the model "in production" then) raises the alerts;
   the best algorithm is then refitted on the training week's feedback-era features and raises the alerts from
   then on. An alerted transaction's label is known N days later (the customer answered), the rest after the
   delay. The test scores are the ones that model gave live.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.fraud.features import FEATURE_INDEX, FeatureConfig
from services.fraud.model import FraudModel
from services.fraud.offline.dataset import DAY_SECONDS, HandbookData
from services.fraud.offline.outcomes import by_2nd_fraud_ceiling, card_outcomes
from services.fraud.offline.protocol import Split, handbook_metrics, handbook_split
from services.fraud.offline.replay import Replay
from services.fraud.offline.training import CandidateResult, compare, fit, usable_features, wrap

HANDBOOK_TRAIN_START = dt.date(2018, 7, 25)
TRAIN_DAYS = 7
DELAY_DAYS = 7
TEST_DAYS = 7
VALIDATION_OFFSET_DAYS = 14  # the validation fit week starts this long before the training week
HISTORY_DAYS = 38  # the longest window (30 days) + the delay (7) + a day


@dataclass
class EvaluationResult:
    candidates: list[CandidateResult]
    algorithm: str
    features: list[str]
    baseline: dict[str, float]
    feedback: dict[str, float] | None = None
    feedback_days: float | None = None
    alerts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cards: dict[str, float | int | None] = field(default_factory=dict)  # `outcomes.card_outcomes` of the final scores

    @property
    def final(self) -> dict[str, float]:
        return self.feedback if self.feedback is not None else self.baseline


def day_number(date: dt.date) -> int:
    return (date - dt.date(1970, 1, 1)).days


def evaluate(data: HandbookData, *, train_start: dt.date = HANDBOOK_TRAIN_START,
             feedback_days: float | None = None, alert_threshold: float = 0.3, block_threshold: float = 0.85,
             config: FeatureConfig | None = None, log: Callable[[str], None] = lambda _m: None,
             algorithms: list[str] | None = None) -> EvaluationResult:
    config = config or FeatureConfig(label_delay_days=DELAY_DAYS)
    start_day = day_number(train_start)
    first_day = start_day - VALIDATION_OFFSET_DAYS - HISTORY_DAYS
    last_day = start_day + TRAIN_DAYS + DELAY_DAYS + TEST_DAYS
    day = data.day
    data = data.select((day >= first_day) & (day < last_day))
    day, card, y = data.day, data.customer_id, data.fraud
    split = handbook_split(day, y, card, start_day, TRAIN_DAYS, DELAY_DAYS, TEST_DAYS)
    fit_rows = (day >= start_day - VALIDATION_OFFSET_DAYS) & (day < start_day - VALIDATION_OFFSET_DAYS + TRAIN_DAYS)
    timings: dict[str, float] = {}
    log(f"{len(data)} transactions from {_iso(first_day)} to {_iso(last_day)}; train {int(split.train.sum())} "
        f"({int(y[split.train].sum())} frauds), test {int(split.test.sum())} ({int(y[split.test].sum())} frauds)")

    t0 = time.perf_counter()
    replay = Replay(data, config)
    replay.run_until(float(last_day * DAY_SECONDS))
    timings["features_seconds"] = round(time.perf_counter() - t0, 1)
    log(f"features: {len(data)} rows in {timings['features_seconds']} s")
    X = replay.features
    names = usable_features(X[split.train])
    t0 = time.perf_counter()
    candidates = compare(X, y, fit_rows, split.train, names, algorithms)
    timings["selection_seconds"] = round(time.perf_counter() - t0, 1)
    for c in candidates:
        log(f"candidate {c.summary()}")
    best = candidates[0]
    window = (train_start, train_start + dt.timedelta(days=TRAIN_DAYS))
    model = wrap(fit(best.algorithm, X[split.train], y[split.train], names), best.algorithm, names, config,
                 window, {})
    baseline_scores = model.score(X[split.test])
    baseline = _metrics(split, data, baseline_scores)
    log(f"baseline ({best.algorithm}, labels after {config.label_delay_days:g} days): {_fmt(baseline)}")
    ceiling = _log_diagnostics(data, split, X, baseline_scores, alert_threshold, log)
    result = EvaluationResult(candidates, best.algorithm, names, baseline, timings=timings)
    if feedback_days is None:
        result.cards = {**_cards(split, data, baseline_scores, alert_threshold, block_threshold, log), **ceiling}
        return result

    t0 = time.perf_counter()
    validation_model = wrap(best.estimator, best.algorithm, names, config,
                            (train_start - dt.timedelta(days=VALIDATION_OFFSET_DAYS),
                             train_start - dt.timedelta(days=VALIDATION_OFFSET_DAYS - TRAIN_DAYS)), {})
    live = Replay(data, config)
    train_end_ts = float((start_day + TRAIN_DAYS) * DAY_SECONDS)
    live.run_until(train_end_ts, validation_model, alert_threshold, feedback_days)
    live_model: FraudModel = wrap(fit(best.algorithm, live.features[split.train], y[split.train], names),
                                  best.algorithm, names, config, window, {})
    live.run_until(float(last_day * DAY_SECONDS), live_model, alert_threshold, feedback_days)
    timings["feedback_replay_seconds"] = round(time.perf_counter() - t0, 1)
    result.feedback = _metrics(split, data, live.scores[split.test])
    result.feedback_days = feedback_days
    test_alerts = live.alerted & split.test
    result.alerts = {
        "threshold": alert_threshold,
        "test_alerts": int(test_alerts.sum()),
        "test_alert_precision": round(float(y[test_alerts].mean()), 4) if test_alerts.any() else None,
        "test_frauds_alerted": round(float(live.alerted[split.test & (y == 1)].mean()), 4),
    }
    log(f"with feedback after {feedback_days:g} days: {_fmt(result.feedback)}; alerts {result.alerts}")
    result.cards = {**_cards(split, data, live.scores[split.test], alert_threshold, block_threshold, log),
                    **ceiling}
    return result


def _cards(split: Split, data: HandbookData, test_scores: np.ndarray, challenge: float, block: float,
           log: Callable[[str], None]) -> dict[str, float | int | None]:
    """Per compromised card of the test week (known-compromised cards removed, as for the metrics)."""
    t = split.test
    out = card_outcomes(data.customer_id[t], data.ts[t], data.fraud[t], data.amount_minor[t] / 100.0,
                        test_scores, challenge, block)
    out = {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}
    log(f"per card at thresholds {challenge:g} / {block:g}: {out}")
    return out


def evaluate_model(data: HandbookData, model: FraudModel, *, train_start: dt.date = HANDBOOK_TRAIN_START,
                   alert_threshold: float = 0.3, block_threshold: float = 0.85,
                   log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """A saved model (trained on other data: another seed, another kind of spending) on this data's test week,
    labels after the delay: what it would do if deployed at this bank. AUC / AP / CP@100 are None when the
    test week has no fraud (a bank of genuine customers only); the per-card outcomes always come."""
    config = FeatureConfig(label_delay_days=float(model.card.feature_config.get("label_delay_days", DELAY_DAYS)))
    start_day = day_number(train_start)
    first_day = start_day - HISTORY_DAYS
    last_day = start_day + TRAIN_DAYS + DELAY_DAYS + TEST_DAYS
    data = data.select((data.day >= first_day) & (data.day < last_day))
    split = handbook_split(data.day, data.fraud, data.customer_id, start_day, TRAIN_DAYS, DELAY_DAYS, TEST_DAYS)
    replay = Replay(data, config)
    replay.run_until(float(last_day * DAY_SECONDS))
    scores = model.score(replay.features[split.test])
    y = data.fraud[split.test]
    metrics: dict[str, Any] = (_metrics(split, data, scores) if 0 < y.sum() < len(y)
                               else {"auc": None, "ap": None, "cp100": None})
    log(f"model {model.version} ({model.card.algorithm}) on {int(split.test.sum())} test transactions "
        f"({int(y.sum())} frauds): {metrics}")
    ceiling = _log_diagnostics(data, split, replay.features, scores, alert_threshold, log)
    return {**metrics, **_cards(split, data, scores, alert_threshold, block_threshold, log), **ceiling}


def _log_diagnostics(data: HandbookData, split: Split, X: np.ndarray, scores: np.ndarray, threshold: float,
                     log: Callable[[str], None]) -> dict[str, float | None]:
    """Recall per fraud scenario at the alert threshold, and the ceiling no model can pass without knowing
    about terminals compromised less than a delay ago (scenario 2 with no known fraud at the terminal yet):
    for AUC / AP / CP@100 (logged) and for `cards_alerted_by_2nd_fraud` (returned: a card whose first two frauds
    are both such frauds, or whose only fraud is one, has nothing before its third fraud to alert on, short of
    a false alert on one of its genuine payments)."""
    t = split.test
    scenario, y = data.scenario[t], data.fraud[t]
    if not scenario.any():
        return {}
    invisible = (scenario == 2) & np.isnan(X[t, FEATURE_INDEX["terminal_days_since_last_known_fraud"]])
    recall = {int(s): round(float((scores[scenario == s] >= threshold).mean()), 3)
              for s in np.unique(scenario[y == 1])}
    visible_2 = (scenario == 2) & ~invisible
    if visible_2.any():
        recall["2_visible"] = round(float((scores[visible_2] >= threshold).mean()), 3)  # type: ignore[index]
    log(f"recall at {threshold:g} by scenario: {recall}; scenario-2 frauds with no known fraud at their "
        f"terminal yet: {int(invisible.sum())} of {int(y.sum())} test frauds")
    ceiling = ((y == 1) & ~invisible).astype(float)
    log(f"ceiling (every other fraud ranked first): {_fmt(_metrics(split, data, ceiling))}")
    by_2nd = by_2nd_fraud_ceiling(data.customer_id[t], data.ts[t], y, ~invisible)
    out = {"cards_alerted_by_2nd_fraud_ceiling": None if by_2nd is None else round(by_2nd, 4)}
    log(f"ceiling of cards alerted by the 2nd fraud (every visible fraud alerted, no false alert): {out}")
    return out


def _metrics(split: Split, data: HandbookData, scores: np.ndarray) -> dict[str, float]:
    t = split.test
    m = handbook_metrics(data.day[t], data.customer_id[t], data.fraud[t], scores)
    return {k: round(v, 4) for k, v in m.items()}


def _fmt(m: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in m.items())


def _iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
