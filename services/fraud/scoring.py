"""The online scorer shared by the stream worker and the gRPC service of one process: the feature engine,
the model and the policy behind one lock, so a batch of transactions is featurized in order and scored in
one model call, and a label learnt from a customer's answer is seen by the very next score."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from services.fraud.decision import FraudDecision, decide_batch
from services.fraud.events import Label, TxEvent
from services.fraud.features import FeatureConfig, FeatureEngine
from services.fraud.model import FraudModel
from services.fraud.policy import FraudPolicy

RECENT_TRANSACTIONS = 50_000


class FraudScorer:
    def __init__(self, model: FraudModel, policy: FraudPolicy, engine: FeatureEngine | None = None) -> None:
        config = FeatureConfig(label_delay_days=float(model.card.feature_config.get("label_delay_days", 7.0)))
        self.model = model
        self.policy = policy
        self.engine = engine or FeatureEngine(config, track_dirty=True, remember=RECENT_TRANSACTIONS)
        self._lock = threading.Lock()

    def score(self, events: Sequence[TxEvent], frozen_cards: Collection[str] = ()) -> list[FraudDecision]:
        """Decisions for transactions in time order (each joins the state): one model call for the scores."""
        if not events:
            return []
        with self._lock:
            features = self.engine.process_batch(events)
            return decide_batch(self.model, self.policy, events, features, frozen_cards)

    def learn(self, labels: Iterable[Label]) -> None:
        with self._lock:
            for label in labels:
                self.engine.add_label(label)

    def drain_state(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            return self.engine.drain_dirty()

    def restore(self, entries: Iterable[tuple[str, str, dict[str, Any]]]) -> int:
        n = 0
        with self._lock:
            for kind, key, state in entries:
                self.engine.load_entry(kind, key, state)
                n += 1
        return n

    @property
    def clock(self) -> float:
        return self.engine.clock
