"""Why a transaction scored high, in words the customer understands.

Each candidate factor that applies to a transaction (a large amount for this customer, a terminal never used,
recent fraud at the terminal, ...) is "switched off" in a copy of its feature row (the amount set back to the
customer's usual amount, the terminal marked as known, ...). All copies of a batch are scored in one model
call; a factor's weight is how much the score drops without it. The strongest factors become the reasons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.fraud.events import TxEvent
from services.fraud.features import FEATURE_INDEX as F
from services.fraud.model import FraudModel
from services.platform.reasons import Reason


@dataclass(frozen=True)
class Factor:
    code: str
    applies: Callable[[np.ndarray, dict[str, float]], bool]
    neutralize: Callable[[np.ndarray], None]
    text: Callable[[np.ndarray, TxEvent], str]


def _usual_ratio(row: np.ndarray) -> float:
    ratio = row[F["amount_to_customer_median_30d"]]
    return float(row[F["amount_to_customer_mean_30d"]] if math.isnan(ratio) else ratio)


def _neutral_amount(row: np.ndarray) -> None:
    ratio = _usual_ratio(row)
    amount = row[F["tx_amount"]]
    usual = amount / ratio
    excess = amount - usual
    row[F["tx_amount"]] = usual
    for w in (1, 7, 30):
        row[F[f"customer_avg_amount_{w}d"]] -= excess / row[F[f"customer_nb_tx_{w}d"]]
    row[F["customer_amount_1h"]] -= excess
    row[F["amount_to_customer_mean_30d"]] /= ratio
    row[F["amount_to_customer_median_30d"]] /= ratio
    row[F["amount_zscore_30d"]] = 0.0
    if not math.isnan(row[F["amount_surprise_30d"]]):
        row[F["amount_surprise_30d"]] = 0.0


def _times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 3 else f"{ratio:.1f}x"


def _set(*names: str, value: float = 0.0) -> Callable[[np.ndarray], None]:
    def apply(row: np.ndarray) -> None:
        for name in names:
            row[F[name]] = value
    return apply


def _terminal_risky(row: np.ndarray, _cfg: dict[str, float]) -> bool:
    return bool(row[F["terminal_known_frauds_recent"]] > 0 or row[F["terminal_risk_1d_delayed"]] > 0
                or row[F["terminal_risk_7d_delayed"]] > 0 or row[F["terminal_risk_30d_delayed"]] > 0)


def _neutral_terminal(row: np.ndarray) -> None:
    for name in ("terminal_known_frauds_recent", "terminal_risk_recent", "terminal_risk_1d_delayed",
                 "terminal_risk_7d_delayed", "terminal_risk_30d_delayed"):
        row[F[name]] = 0.0
    row[F["terminal_days_since_first_known_fraud"]] = np.nan
    row[F["terminal_days_since_last_known_fraud"]] = np.nan


def _neutral_velocity(row: np.ndarray) -> None:
    extra = row[F["customer_nb_tx_10min"]] - 1
    row[F["customer_nb_tx_10min"]] = 1.0
    row[F["customer_nb_tx_1h"]] = max(1.0, row[F["customer_nb_tx_1h"]] - extra)


def _neutral_card_pattern(row: np.ndarray) -> None:
    row[F["customer_large_payments_14d"]] = 0.0
    row[F["customer_max_surprise_14d"]] = min(row[F["customer_max_surprise_14d"]], 1.0)


def _large_payments_text(row: np.ndarray) -> str:
    n = row[F["customer_large_payments_14d"]]
    some = "another unusually large payment" if n == 1 else f"{n:.0f} other unusually large payments"
    return f"after {some} on your card in the last 14 days"


def _had_history(row: np.ndarray) -> bool:
    return bool(row[F["customer_nb_tx_30d"]] > 1)


FACTORS: tuple[Factor, ...] = (
    Factor("AMOUNT_VS_USUAL",
           lambda r, c: _usual_ratio(r) >= c.get("amount_ratio_at_least", 1.8),
           _neutral_amount,
           lambda r, _tx: f"{_times(_usual_ratio(r))} your usual amount"),
    Factor("NEW_TERMINAL",
           lambda r, _c: r[F["first_use_terminal"]] == 1 and _had_history(r),
           _set("first_use_terminal"),
           lambda _r, _tx: "at a terminal you have never used"),
    Factor("NEW_MERCHANT",
           lambda r, _c: r[F["first_use_merchant"]] == 1 and _had_history(r),
           _set("first_use_merchant"),
           lambda _r, tx: "at a shop you have never paid before"),
    Factor("TERMINAL_FRAUD_REPORTED", _terminal_risky, _neutral_terminal,
           lambda _r, _tx: "at a terminal where fraud has been reported recently"),
    Factor("MERCHANT_FRAUD_REPORTED",
           lambda r, _c: bool(r[F["merchant_risk_30d_delayed"]] > 0 or r[F["merchant_known_frauds_recent"]] > 0),
           _set("merchant_risk_30d_delayed", "merchant_known_frauds_recent"),
           lambda _r, _tx: "at a shop where fraud has been reported recently"),
    Factor("VELOCITY",
           lambda r, c: r[F["customer_nb_tx_10min"]] >= c.get("velocity_10min_at_least", 3),
           _neutral_velocity,
           lambda r, _tx: f"{r[F['customer_nb_tx_10min']]:.0f} card payments within 10 minutes"),
    Factor("FAR_FROM_USUAL_AREA",
           lambda r, c: r[F["km_from_usual_area"]] >= c.get("km_from_usual_at_least", 25.0),
           _set("km_from_usual_area"),
           lambda r, _tx: f"{r[F['km_from_usual_area']]:.0f} km from where you usually pay"),
    Factor("IMPOSSIBLE_TRAVEL",
           lambda r, c: r[F["kmh_from_prev_tx"]] >= c.get("kmh_at_least", 500.0),
           _set("km_from_prev_tx", "kmh_from_prev_tx"),
           lambda r, _tx: (f"{r[F['km_from_prev_tx']]:.0f} km from your previous card payment "
                           f"{r[F['seconds_since_prev_tx']] / 60:.0f} minutes earlier")),
    Factor("CARD_FRAUD_CONFIRMED",
           lambda r, _c: r[F["customer_known_frauds_recent"]] > 0,
           _set("customer_known_frauds_recent"),
           lambda _r, _tx: "soon after you told us about fraud on your card"),
    Factor("CARD_LARGE_PAYMENTS",
           lambda r, _c: r[F["customer_large_payments_14d"]] > 0,
           _neutral_card_pattern,
           lambda r, _tx: _large_payments_text(r)),
    Factor("NIGHT",
           lambda r, _c: r[F["tx_during_night"]] == 1,
           _set("tx_during_night"),
           lambda _r, _tx: "in the middle of the night"),
)

FALLBACK = Reason("UNUSUAL_PATTERN", "a pattern unusual for your card", 0.0)


def explain_batch(model: FraudModel, features: np.ndarray, scores: np.ndarray, txs: Sequence[TxEvent],
                  rows: Sequence[int], config: dict[str, float], max_reasons: int = 3) -> dict[int, list[Reason]]:
    """Reasons for each row index in `rows` (typically the alerted ones), strongest first; one model call."""
    copies: list[np.ndarray] = []
    owners: list[tuple[int, Factor]] = []
    for i in rows:
        row = features[i]
        for factor in FACTORS:
            if factor.applies(row, config):
                copy = row.copy()
                factor.neutralize(copy)
                copies.append(copy)
                owners.append((i, factor))
    out: dict[int, list[Reason]] = {i: [] for i in rows}
    if copies:
        without = model.score(np.vstack(copies))
        for (i, factor), score in zip(owners, without, strict=True):
            weight = float(scores[i] - score)
            out[i].append(Reason(factor.code, factor.text(features[i], txs[i]), round(weight, 4)))
    min_weight = config.get("min_weight", 0.02)
    for i in rows:
        ranked = sorted(out[i], key=lambda r: r.weight, reverse=True)
        strong = [r for r in ranked if r.weight >= min_weight]
        out[i] = strong[:max_reasons] or ranked[:1] or [FALLBACK]
    return out


def summary(reasons: Sequence[Reason]) -> str:
    """'3x your usual amount, at a terminal you have never used'."""
    return ", ".join(r.text for r in reasons)
