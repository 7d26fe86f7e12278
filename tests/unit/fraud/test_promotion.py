"""The promotion rule (pure): the challenger takes over only with enough labels and a win by the margin."""

from __future__ import annotations

import numpy as np
import pytest

from services.fraud.policy import Promotion
from services.fraud.promotion import NOT_BETTER, PROMOTE, TOO_FEW_LABELS, decide, model_metrics

RULE = Promotion(evaluation_days=7, training_days=14, metric="average_precision", margin=0.02, min_labelled=500,
                 min_frauds=10)


@pytest.mark.parametrize(("case", "labelled", "frauds", "champion", "challenger", "promote", "reason"), [
    ("challenger worse", 5000, 40, 0.60, 0.50, False, NOT_BETTER),
    ("equal", 5000, 40, 0.60, 0.60, False, NOT_BETTER),
    ("better by less than the margin", 5000, 40, 0.60, 0.615, False, NOT_BETTER),
    ("better by exactly the margin", 5000, 40, 0.50, 0.52, True, PROMOTE),
    ("better by more than the margin", 5000, 40, 0.60, 0.75, True, PROMOTE),
    ("too few frauds, however much better", 5000, 9, 0.10, 0.95, False, TOO_FEW_LABELS),
    ("too few payments, however much better", 499, 40, 0.10, 0.95, False, TOO_FEW_LABELS),
    ("no metric (one class only)", 5000, 40, None, 0.9, False, TOO_FEW_LABELS),
])
def test_promotion_rule(case: str, labelled: int, frauds: int, champion: float | None, challenger: float | None,
                        promote: bool, reason: str) -> None:
    verdict = decide(RULE, labelled, frauds, champion, challenger)
    assert (verdict.promote, verdict.reason) == (promote, reason), case
    assert verdict.detail  # plain text for the report


def test_a_larger_margin_keeps_a_champion_the_default_margin_would_replace() -> None:
    strict = RULE.model_copy(update={"margin": 0.2})
    assert decide(RULE, 5000, 40, 0.6, 0.75).promote
    assert not decide(strict, 5000, 40, 0.6, 0.75).promote


def test_model_metrics_of_a_perfect_and_a_useless_ranking() -> None:
    labels = np.array([0, 0, 0, 1, 1, 0, 0, 1])
    perfect = model_metrics(labels, labels * 0.9 + 0.05, challenge_threshold=0.3)
    useless = model_metrics(labels, np.full(len(labels), 0.1), challenge_threshold=0.3)
    assert perfect["average_precision"] == 1.0 and perfect["frauds_alerted_share"] == 1.0
    assert perfect["genuine_alerts_per_1000"] == 0.0
    assert useless["average_precision"] == pytest.approx(3 / 8) and useless["frauds_alerted_share"] == 0.0
    assert model_metrics(np.zeros(4), np.zeros(4), 0.3)["average_precision"] is None
