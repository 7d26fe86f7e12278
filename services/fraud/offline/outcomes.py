"""What the customer feels, per compromised card, at the policy's thresholds: pure functions over arrays.

A card is compromised when it has at least one fraudulent transaction among the rows given (the test week).
Its first alert is its first transaction scored at or above the challenge threshold, wherever it falls:

- `cards_alerted_by_2nd_fraud`: share of compromised cards alerted with at most one fraudulent transaction
  before the first alert (the alert comes on or before the second fraud; a card with one fraud alerted at it
  or after it counts too);
- `frauds_before_first_alert_median`: median over compromised cards of the frauds that went through before the
  first alert (all of the card's frauds when it was never alerted);
- `value_detection_rate`: the fraudulent amount at or after each card's first alert (what a freeze at the
  first alert would stop) over all the fraudulent amount, summed over compromised cards (FICO's VDR);
- `account_false_positive_ratio`: cards with an alert and no fraud per compromised card with an alert (AFPR);
- `genuine_alerts_per_1000` / `genuine_blocks_per_1000`: genuine transactions scored at or above the challenge
  / block threshold, per 1,000 genuine transactions.
"""

from __future__ import annotations

import numpy as np


def card_outcomes(card: np.ndarray, ts: np.ndarray, fraud: np.ndarray, amount: np.ndarray, score: np.ndarray,
                  challenge: float, block: float) -> dict[str, float | int | None]:
    """Per-card outcomes over transaction rows (any order; each card's rows are taken in time order)."""
    fraud = fraud.astype(bool)
    alerted = score >= challenge
    codes = np.unique(card, return_inverse=True)[1].reshape(-1)
    order = np.lexsort((ts, codes))
    codes, fraud_o, alerted_o, amount_o = codes[order], fraud[order], alerted[order], amount[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    frauds_before: list[int] = []  # per compromised card
    card_alerted: list[bool] = []
    value_total = value_stopped = 0.0
    genuine_alerted = 0
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        f = fraud_o[lo:hi]
        hit = np.flatnonzero(alerted_o[lo:hi])
        if not f.any():
            genuine_alerted += bool(len(hit))
            continue
        first = int(hit[0]) if len(hit) else hi - lo
        frauds_before.append(int(f[:first].sum()))
        card_alerted.append(bool(len(hit)))
        value_total += float(amount_o[lo:hi][f].sum())
        value_stopped += float(amount_o[lo + first:hi][f[first:]].sum())
    before = np.asarray(frauds_before, dtype=np.int64)
    by_2nd = int(((before <= 1) & np.asarray(card_alerted, dtype=bool)).sum())
    genuine = ~fraud
    n_genuine = int(genuine.sum())
    return {
        "compromised_cards": len(before),
        "cards_alerted_by_2nd_fraud": _ratio(by_2nd, len(before)),
        "frauds_before_first_alert_median": float(np.median(before)) if len(before) else None,
        "value_detection_rate": _ratio(value_stopped, value_total),
        "account_false_positive_ratio": _ratio(genuine_alerted, sum(card_alerted)),
        "genuine_alerts_per_1000": _ratio(1000.0 * int((alerted & genuine).sum()), n_genuine),
        "genuine_blocks_per_1000": _ratio(1000.0 * int(((score >= block) & genuine).sum()), n_genuine),
    }


def by_2nd_fraud_ceiling(card: np.ndarray, ts: np.ndarray, fraud: np.ndarray, visible: np.ndarray) -> float | None:
    """The best `cards_alerted_by_2nd_fraud` a model can reach without false alerts when it can alert only the
    `visible` frauds (e.g. not a compromised terminal's frauds before any fraud there is known): every visible
    fraud alerted, nothing else."""
    score = (fraud.astype(bool) & visible.astype(bool)).astype(float)
    out = card_outcomes(card, ts, fraud, np.zeros(len(card)), score, 0.5, 2.0)["cards_alerted_by_2nd_fraud"]
    return None if out is None else float(out)


def _ratio(numerator: float, denominator: float) -> float | None:
    """None when there is nothing to divide by (no compromised card alerted, no genuine transaction)."""
    return float(numerator) / denominator if denominator else None
