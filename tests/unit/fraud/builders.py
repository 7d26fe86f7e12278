"""Small builders shared by the fraud unit tests."""

from __future__ import annotations

import math

import numpy as np

from services.fraud.events import Label, TxEvent
from services.fraud.features import FEATURE_INDEX

DAY = 86400.0
T0 = 17_700 * DAY  # 2018-06-18 00:00 UTC, a Monday


def tx(tx_id: str, ts: float, amount: float = 10.0, customer: str = "c1", terminal: str = "t1",
       merchant: str = "", mcc: str = "", x: float = math.nan, y: float = math.nan, card: str = "") -> TxEvent:
    return TxEvent(tx_id=tx_id, customer_id=customer, terminal_id=terminal, ts=ts,
                   amount_minor=round(amount * 100), currency="EUR", amount=amount, merchant_id=merchant,
                   mcc=mcc, x_km=x, y_km=y, card_token=card)


def label(t: TxEvent, fraud: bool, known_at: float) -> Label:
    return Label(tx_id=t.tx_id, customer_id=t.customer_id, terminal_id=t.terminal_id,
                 merchant_id=t.merchant_id, mcc=t.mcc, tx_ts=t.ts, fraud=fraud, known_at=known_at)


def f(row: list[float] | np.ndarray, name: str) -> float:
    return float(row[FEATURE_INDEX[name]])


class StubEstimator:
    """predict_proba from a fixed linear score over named columns (the model's own column order)."""

    def __init__(self, weights: dict[str, float], names: list[str], bias: float = -4.0) -> None:
        self.weights = np.array([weights.get(n, 0.0) for n in names])
        self.bias = bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = self.bias + np.nan_to_num(x, nan=0.0) @ self.weights
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1 - p, p])
