"""Small builders shared by the fraud unit tests."""

from __future__ import annotations

import math
import time

import numpy as np

from services.fraud.events import Label, TxEvent
from services.fraud.features import FEATURE_INDEX
from services.gen.proactivecare.v1 import common_pb2, events_pb2

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



def card_payment(tx_id: str, customer: str, amount_minor: int, terminal: str, ts: float | None = None,
                 **overrides: object) -> events_pb2.Transaction:
    tx = events_pb2.Transaction(
        id=tx_id, customer_id=customer, account_id=f"acc-{customer}", card_token=f"card-{customer}",
        amount=common_pb2.Money(amount_minor=amount_minor, currency="EUR"), direction=events_pb2.DIRECTION_DEBIT,
        channel=events_pb2.CHANNEL_CARD_PRESENT, terminal_id=terminal,
        merchant=events_pb2.Merchant(id=f"m-{terminal}", name=f"Shop {terminal}", mcc="5411", country="FR"))
    tx.timestamp.FromNanoseconds(int((ts if ts is not None else time.time()) * 1e9))
    for key, value in overrides.items():
        if isinstance(value, common_pb2.Money | events_pb2.Merchant | events_pb2.Location):
            getattr(tx, key).CopyFrom(value)
        else:
            setattr(tx, key, value)
    return tx


def usual_history(customer: str, now: float, n: int = 20, amount_minor: int = 3000) -> list[events_pb2.Transaction]:
    """Ten days of ordinary payments at three home terminals."""
    return [card_payment(f"{customer}-h{i}", customer, amount_minor + 100 * (i % 5), f"T-{customer}-{i % 3}",
                         now - 10 * DAY + i * DAY / 2) for i in range(n)]
