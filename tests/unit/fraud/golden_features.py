"""The feature engine's output on simulator data, pinned: the model artifacts depend on every feature's value, so
a faster engine must reproduce the one it replaces bit for bit. `golden_features.json` holds, per data set and
feature, a digest of the column (and its first values, to read a difference by); it was written by the engine
before the batch engine and binary state (fraud-features/4). Regenerate only when a feature change is meant
(with a new FEATURE_SET_VERSION): `python -m tests.unit.fraud.golden_features`.

Two data sets: the Handbook simulator replayed as training data is built (labels known after the delay), and the
bank simulator's card payments as the stream sees them (merchants, categories, locations), with chargebacks."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.fraud.events import Label, TxEvent
from services.fraud.features import DAY, FEATURE_NAMES, FeatureEngine

FIXTURE = Path(__file__).with_name("data") / "golden_features.json"
SHOWN = 5  # first values kept per feature


def handbook_matrix() -> np.ndarray:
    """Training data's path: the offline replay of the Handbook simulator."""
    from services.fraud.offline.dataset import from_simulator
    from services.fraud.offline.replay import Replay
    from services.simulator.handbook import HandbookConfig, generate

    data = from_simulator(generate(HandbookConfig(n_customers=120, n_terminals=240, n_days=50, seed=5)).transactions)
    replay = Replay(data)
    replay.run_until(math.inf)
    return replay.features


def bank_events() -> tuple[list[TxEvent], dict[str, float]]:
    """The bank simulator's card payments (as the worker converts them) and when each fraud is charged back."""
    from services.fraud.messages import is_card_debit, to_event
    from services.simulator import events
    from services.simulator.bank import build_bank
    from services.simulator.handbook import HandbookConfig

    bank = build_bank(HandbookConfig(n_customers=150, n_terminals=300, n_days=45, seed=11))
    channels = frozenset({"CARD_PRESENT", "CARD_NOT_PRESENT", "ATM"})  # the policy's scored channels
    txs = [to_event(t) for t in events.transactions(bank) if is_card_debit(t, channels)]
    # every other fraud answered two days on (feedback), the rest charged back after the delay
    known = {fb.transaction_id: fb.transaction_time.seconds + (2 if i % 2 else 7) * DAY
             for i, (_, fb) in enumerate(events.chargebacks(bank, 7.0))}
    return txs, known


def bank_matrix(featurize: Callable[[list[TxEvent], list[Label]], np.ndarray] | None = None) -> np.ndarray:
    txs, known = bank_events()
    labels = [Label(tx_id=t.tx_id, customer_id=t.customer_id, terminal_id=t.terminal_id, merchant_id=t.merchant_id,
                    mcc=t.mcc, tx_ts=t.ts, fraud=True, known_at=known[t.tx_id]) for t in txs if t.tx_id in known]
    if featurize is not None:
        return featurize(txs, labels)
    engine = FeatureEngine()
    engine.add_labels(labels)
    return np.array([engine.process(t) for t in txs])


def digest(column: np.ndarray) -> str:
    canonical = np.where(np.isnan(column), np.nan, column).astype("<f8")  # one NaN bit pattern
    return hashlib.sha256(canonical.tobytes()).hexdigest()


def describe(matrix: np.ndarray) -> dict[str, object]:
    return {"rows": int(matrix.shape[0]),
            "features": {name: {"sha256": digest(matrix[:, j]),
                                "first": [None if math.isnan(v) else v for v in matrix[:SHOWN, j].tolist()]}
                         for j, name in enumerate(FEATURE_NAMES)}}


def differences(expected: dict[str, object], matrix: np.ndarray) -> list[str]:
    """The features whose column differs from the pinned one (empty: identical)."""
    if expected["rows"] != matrix.shape[0]:
        return [f"rows: {expected['rows']} pinned, {matrix.shape[0]} now"]
    pinned = expected["features"]
    assert isinstance(pinned, dict)
    return [name for j, name in enumerate(FEATURE_NAMES) if pinned[name]["sha256"] != digest(matrix[:, j])]


if __name__ == "__main__":
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps({"handbook": describe(handbook_matrix()), "bank": describe(bank_matrix())},
                                  indent=1) + "\n")
    print(f"wrote {FIXTURE}")
