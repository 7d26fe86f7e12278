"""The online scorer shared by the stream worker and the gRPC service of one process: the feature engine,
the model and the policy behind one lock, so a batch of transactions is featurized in order and scored in
one model call, and a label learnt from a customer's answer is seen by the very next score.

The feature state lives in the store (`state_cache.py`): given a `FraudRepository`, scoring first brings the
cached state of the batch's customers and shops up to the stored one; the worker then `persist`s what its batch
changed, in the batch's own transaction. Without a repository (offline tools, tests) the state is in memory."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import numpy as np

from services.fraud.decision import FraudDecision, decide_batch
from services.fraud.events import Label, TxEvent
from services.fraud.features import FeatureConfig, FeatureEngine
from services.fraud.model import FraudModel
from services.fraud.policy import FraudPolicy
from services.fraud.repository import FraudRepository
from services.fraud.state_cache import CacheLimits, FeatureStateCache, keys_of

RECENT_TRANSACTIONS = 50_000
DEFAULT_LIMITS = CacheLimits()


class FraudScorer:
    def __init__(self, model: FraudModel, policy: FraudPolicy, engine: FeatureEngine | None = None,
                 limits: CacheLimits = DEFAULT_LIMITS) -> None:
        config = FeatureConfig(label_delay_days=float(model.card.feature_config.get("label_delay_days", 7.0)))
        self.model = model
        self.policy = policy
        self.engine = engine or FeatureEngine(config, track_dirty=True, remember=RECENT_TRANSACTIONS)
        self.state = FeatureStateCache(self.engine, limits)
        self._lock = threading.Lock()

    def score(self, events: Sequence[TxEvent], frozen_cards: Collection[str] = (),
              repo: FraudRepository | None = None, join: bool = True,
              features_out: list[np.ndarray] | None = None) -> list[FraudDecision]:
        """Decisions for transactions in time order: one model call for the scores. `join`: each transaction
        joins the state (the stream); without, the state is left as it was (an authorization). `features_out`
        receives the feature matrix (the shadow challenger and the labelled history use the same rows)."""
        if not events:
            return []
        with self._lock:
            if repo is not None:
                self.state.load(repo, (e.customer_id for e in events),
                                [k for e in events for k in keys_of(e.terminal_id, e.merchant_id, e.mcc)])
            features = self.engine.process_batch(events, join)
            if features_out is not None:
                features_out.append(features)
            if repo is not None and not join:
                self.state.trim()
            return decide_batch(self.model, self.policy, events, features, frozen_cards)

    def learn(self, labels: Iterable[Label], repo: FraudRepository | None = None) -> None:
        """Labels that hold from now on (the worker's, written with its batch)."""
        labels = list(labels)
        with self._lock:
            if repo is not None:
                self.state.load(repo, (lb.customer_id for lb in labels),
                                [k for lb in labels for k in keys_of(lb.terminal_id, lb.merchant_id, lb.mcc)])
            for label in labels:
                self.engine.add_label(label)

    def preview(self, labels: Iterable[Label]) -> None:
        """An answer given over gRPC: seen by this process's next score at once; its trip through `fraud-feedback`
        teaches every replica for good."""
        with self._lock:
            for label in labels:
                self.state.preview(label)

    def swap_model(self, model: FraudModel) -> None:
        """Serve `model` from the next batch on (a promotion or a rollback, no restart): the lock is held for a
        whole batch, so a batch is scored by one model."""
        with self._lock:
            self.model = model

    # ---- the worker's batch ---------------------------------------------------------------------------------
    def begin_batch(self) -> None:
        with self._lock:
            self.state.begin()

    def persist(self, repo: FraudRepository) -> None:
        with self._lock:
            self.state.persist(repo)

    def batch_committed(self) -> None:
        with self._lock:
            self.state.committed()

    # ---- offline ------------------------------------------------------------------------------------------
    def drain_state(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            return self.engine.drain_dirty()

    @property
    def clock(self) -> float:
        return self.engine.clock
