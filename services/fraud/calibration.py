"""Calibrating a model's scores to a bank's fraud share (a prior shift).

A model trained where frauds were a share `t` of card payments gives the probability of fraud at that share. At a
bank whose share is `b`, Bayes' rule moves each score's odds by the ratio of the two priors (Saerens, Latinne and
Decaestecker, "Adjusting the outputs of a classifier to new a priori probabilities", 2002):

    odds_b(p) = odds_t(p) * (b / (1 - b)) / (t / (1 - t))

The ranking is unchanged (AUC and average precision too); what changes is what the policy's thresholds mean: 0.3
is "three chances in ten at this bank", not at the bank the model was trained on. `b` comes from the bank's own
labelled history (`proactive-care fraud calibrate` counts its frauds among its card payments and writes the share
into a new version of the model card), never from the data being judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

MIN_LABELLED_FRAUDS = 30  # below this a bank's share is too uncertain to move the thresholds' meaning
SHARE_BOUNDS = (1e-5, 0.5)


def trained_share(metrics: Mapping[str, Any]) -> float | None:
    """The fraud share of the model's training rows, from its card's metrics (None when the card predates it)."""
    frauds, rows = metrics.get("training_frauds"), metrics.get("training_rows")
    if not frauds or not rows:
        return None
    return float(frauds) / float(rows)


def prior_shift(scores: np.ndarray, trained: float, bank: float) -> np.ndarray:
    """Scores at the training share `trained` as scores at the bank's share `bank`."""
    ratio = (bank / (1.0 - bank)) / (trained / (1.0 - trained))
    shifted = scores * ratio
    return shifted / (shifted + (1.0 - scores))


def check_share(share: float, frauds: int) -> None:
    """A bank share fit to calibrate with: within bounds and learnt from enough labelled frauds."""
    low, high = SHARE_BOUNDS
    if not low <= share <= high:
        raise ValueError(f"bank fraud share {share:g} is outside [{low:g}, {high:g}]")
    if frauds < MIN_LABELLED_FRAUDS:
        raise ValueError(f"{frauds} labelled frauds: at least {MIN_LABELLED_FRAUDS} are needed to trust a share")
