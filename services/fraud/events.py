"""The fraud domain's view of a card transaction and of a label (what we learn about it later).

Both are plain values: the feature engine, the trainer and the evaluation all work on them, whether they came
from a Kafka record, a gRPC request or a Handbook CSV row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NO_LOCATION = math.nan


@dataclass(frozen=True, slots=True)
class TxEvent:
    """One card transaction. `amount` is in major units (a float derived from integer minor units) because
    model features are ratios and means; money itself stays `amount_minor` + `currency`."""

    tx_id: str
    customer_id: str
    terminal_id: str
    ts: float  # seconds since the Unix epoch, UTC
    amount_minor: int
    currency: str
    amount: float
    merchant_id: str = ""  # empty when unknown (Handbook data has none)
    mcc: str = ""
    x_km: float = NO_LOCATION  # NaN when the source carries no location
    y_km: float = NO_LOCATION
    card_token: str = ""


@dataclass(frozen=True, slots=True)
class Label:
    """What became known about a transaction, and when: after the chargeback delay, or at once when the
    customer answered an alert."""

    tx_id: str
    customer_id: str
    terminal_id: str
    merchant_id: str
    mcc: str
    tx_ts: float
    fraud: bool
    known_at: float
