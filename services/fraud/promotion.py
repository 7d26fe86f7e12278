"""Champion and challenger: how two models compare on the same labelled payments, and when the challenger takes
over (pure: arrays in, a verdict out).

Both models score the same feature rows (the ones the live engine computed for the last N days whose labels are
complete, held out of the challenger's training). The challenger is promoted only when there are enough labels to
tell (`min_labelled` payments, `min_frauds` known frauds) and it beats the champion on the policy's metric by at
least the policy's margin; equal, worse or better by less than the margin keeps the champion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from services.fraud.policy import Promotion

PROMOTE = "promote"
TOO_FEW_LABELS = "too_few_labels"
NOT_BETTER = "not_better_by_margin"


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str  # PROMOTE | TOO_FEW_LABELS | NOT_BETTER
    detail: str  # plain text for the report and the log

    def to_dict(self) -> dict[str, Any]:
        return {"promote": self.promote, "reason": self.reason, "detail": self.detail}


def model_metrics(labels: np.ndarray, scores: np.ndarray, challenge_threshold: float) -> dict[str, float | None]:
    """What one model achieves on labelled payments: AP, AUC (None without both classes), the share of frauds and
    genuine payments it would alert at the policy's threshold."""
    labels = labels.astype(bool)
    both = bool(labels.any() and (~labels).any())
    alerted = scores >= challenge_threshold
    n_fraud, n_genuine = int(labels.sum()), int((~labels).sum())
    return {
        "average_precision": float(average_precision_score(labels, scores)) if both else None,
        "roc_auc": float(roc_auc_score(labels, scores)) if both else None,
        "frauds_alerted_share": float((alerted & labels).sum() / n_fraud) if n_fraud else None,
        "genuine_alerts_per_1000": float(1000.0 * (alerted & ~labels).sum() / n_genuine) if n_genuine else None,
    }


def decide(rule: Promotion, labelled: int, frauds: int, champion: float | None, challenger: float | None
           ) -> Verdict:
    """The promotion rule, given the evaluation days' volumes and both models' value of `rule.metric`."""
    if labelled < rule.min_labelled or frauds < rule.min_frauds or champion is None or challenger is None:
        return Verdict(False, TOO_FEW_LABELS,
                       f"{labelled} labelled payments and {frauds} known frauds in the last {rule.evaluation_days} "
                       f"labelled days; needs {rule.min_labelled} and {rule.min_frauds}")
    gain = challenger - champion
    if gain >= rule.margin:
        return Verdict(True, PROMOTE, f"challenger {rule.metric} {challenger:.4f} beats the champion's "
                                      f"{champion:.4f} by {gain:.4f} (margin {rule.margin})")
    return Verdict(False, NOT_BETTER, f"challenger {rule.metric} {challenger:.4f} against the champion's "
                                      f"{champion:.4f}: {gain:+.4f}, needs +{rule.margin}")
