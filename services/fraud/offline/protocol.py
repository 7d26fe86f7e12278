"""The Fraud Detection Handbook's evaluation protocol, as pure functions over arrays.

`get_train_test_set`: train on 7 days, skip a 7-day delay, test on the next 7 days, and drop from each test day
the cards already known to be compromised (the training frauds' cards, plus the cards with a fraud on each day
of the delay period as its labels arrive). `card_precision_top_k`: for each test day, the k cards with the
highest score, the share of them compromised; cards detected on earlier days are left out of later days.
The customer id stands for the card, as in the Handbook.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from services.platform.errors import ValidationError


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # boolean masks over the dataset's rows
    test: np.ndarray


def handbook_split(day: np.ndarray, fraud: np.ndarray, card: np.ndarray, train_start_day: int,
                   train_days: int = 7, delay_days: int = 7, test_days: int = 7) -> Split:
    """Masks of the training and test rows. `day` is each row's calendar day number."""
    train = (day >= train_start_day) & (day < train_start_day + train_days)
    if not train.any():
        raise ValidationError("train_start", "no transactions in the training window")
    card = _codes(card)
    known = np.zeros(card.max() + 1, dtype=bool)
    known[card[train & (fraud == 1)]] = True
    test = np.zeros(len(day), dtype=bool)
    for d in range(test_days):
        delay_day = train_start_day + train_days + d - 1
        known[card[(day == delay_day) & (fraud == 1)]] = True
        today = day == train_start_day + train_days + delay_days + d
        if not today.any():
            raise ValidationError("test", f"no transactions on test day {d + 1}: the data ends too early")
        test |= today & ~known[card]
    return Split(train=train, test=test)


def _codes(values: np.ndarray) -> np.ndarray:
    """Dense integer codes for ids (strings compare slowly in numpy)."""
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def card_precision_top_k(day: np.ndarray, card: np.ndarray, fraud: np.ndarray, score: np.ndarray,
                         k: int = 100) -> float:
    """Mean over days of the share of compromised cards among the k highest-scored cards of the day."""
    card = _codes(card)
    detected = np.zeros(card.max() + 1, dtype=bool)
    precisions = []
    for d in np.unique(day):
        rows = (day == d) & ~detected[card]
        cards, inverse = np.unique(card[rows], return_inverse=True)
        max_score = np.full(len(cards), -np.inf)
        np.maximum.at(max_score, inverse, score[rows])
        max_fraud = np.zeros(len(cards), dtype=np.int64)
        np.maximum.at(max_fraud, inverse, fraud[rows].astype(np.int64))
        top = np.argsort(-max_score, kind="stable")[:k]
        hits = top[max_fraud[top] == 1]
        detected[cards[hits]] = True
        precisions.append(len(hits) / k)
    return float(np.mean(precisions))


def handbook_metrics(day: np.ndarray, card: np.ndarray, fraud: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """AUC ROC, Average Precision and Card Precision@100 over test rows."""
    return {
        "auc": float(roc_auc_score(fraud, score)),
        "ap": float(average_precision_score(fraud, score)),
        "cp100": card_precision_top_k(day, card, fraud, score, 100),
    }
