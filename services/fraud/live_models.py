"""The live side of champion and challenger, run by the stream worker between and after its batches.

- `refresh()` (before a batch): at most every `FRAUD_MODEL_RELOAD_SECONDS` it reads the model directory's roles
  (`model_slots.py`); a new champion (a promotion, a rollback) is loaded and swapped into the scorer before the
  batch is scored, so each batch is scored by one model and nothing restarts: alerts keep their ids (derived from
  the transaction), a redelivered batch dedupes as before, whichever model scores it. A new challenger is loaded
  for shadow scoring. A model that fails to load (digest, allow-list, a feature set this code does not compute) is
  logged and the current one kept.
- `observe()` (after the batch's scoring): the challenger scores the same feature rows; its score never decides
  anything. Agreement (same score band as the champion, or a higher / lower one) is counted, and with the history
  on, the rows (features, both scores) are written in the batch's own transaction (`history.py`).
- `learn()`: labels from `fraud-feedback` (answers, chargebacks) into the history, with the instant each arrived.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from services.fraud.decision import FraudDecision, verdicts_for_scores
from services.fraud.events import TxEvent
from services.fraud.history import ANSWER, CHARGEBACK, HistoryRepository, LabelRow, ScoredRow
from services.fraud.metrics import FraudMetrics
from services.fraud.model import FraudModel, ModelArtifactError
from services.fraud.model_slots import CHALLENGER, CHAMPION, PROMOTED, last_event, load_role, version_of
from services.fraud.scoring import FraudScorer
from services.gen.proactivecare.v1 import events_pb2
from services.platform.storage import Tx

log = logging.getLogger(__name__)


class LiveModels:
    def __init__(self, directory: Path, scorer: FraudScorer, metrics: FraudMetrics, reload_seconds: float = 5.0,
                 keep_history: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.scorer = scorer
        self.metrics = metrics
        self.reload_seconds = reload_seconds
        self.keep_history = keep_history
        self.clock = clock
        self.challenger: FraudModel | None = None
        self._checked = -math.inf
        self._pending: list[ScoredRow] = []
        self._refused: set[str] = set()
        self.refresh()
        metrics.show_models(scorer.model, self.challenger)

    # ---- before a batch ---------------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._pending = []
        now = self.clock()
        if now - self._checked < self.reload_seconds:
            return
        self._checked = now
        champion, challenger = version_of(self.directory, CHAMPION), version_of(self.directory, CHALLENGER)
        changed = False
        if champion is not None and champion != self.scorer.model.version:
            model = self._load(CHAMPION, champion)
            if model is not None and model.version == champion:
                self.scorer.swap_model(model)
                event = last_event(self.directory, champion) or PROMOTED
                self.metrics.model_events.labels(event).inc()
                log.info("fraud: model %s now decides (%s), from the next batch on", champion, event)
                changed = True
        current = self.challenger.version if self.challenger is not None else None
        if challenger != current:
            loaded = self._load(CHALLENGER, challenger) if challenger is not None else None
            changed = changed or loaded is not None or self.challenger is not None
            self.challenger = loaded
            if loaded is not None:
                log.info("fraud: challenger %s scores in shadow", loaded.version)
        if changed:
            self.metrics.show_models(self.scorer.model, self.challenger)

    def _load(self, role: str, version: str) -> FraudModel | None:
        """The model holding `role`, or None when it is refused (once: a refused version is not tried again)."""
        if version in self._refused:
            return None
        try:
            model = load_role(self.directory, role)
        except (ModelArtifactError, OSError, ValueError) as exc:
            log.error("fraud: the %s %s does not load, keeping what serves: %s", role, version, exc)
            self._refused.add(version)
            return None
        served = self.scorer.model.card.feature_config.get("label_delay_days")
        if model is not None and served is not None and model.card.feature_config.get("label_delay_days") != served:
            log.error("fraud: the %s %s was trained with another label delay than the features served: refused",
                      role, model.version)
            self._refused.add(version)
            return None
        return model

    # ---- after the batch's scoring ----------------------------------------------------------------------------
    def observe(self, events: Sequence[TxEvent], features: np.ndarray, decisions: Sequence[FraudDecision]) -> None:
        champion = np.array([d.score for d in decisions], dtype=np.float64)
        challenger: np.ndarray | None = None
        if self.challenger is not None and len(events):
            challenger = self.challenger.score(features)
            policy = self.scorer.policy
            ours = np.array([v.value for v in verdicts_for_scores(champion, policy)])
            theirs = np.array([v.value for v in verdicts_for_scores(challenger, policy)])
            for label, n in (("agree", int((ours == theirs).sum())), ("challenger_higher", int((theirs > ours).sum())),
                             ("champion_higher", int((theirs < ours).sum()))):
                if n:
                    self.metrics.shadow.labels(label).inc(n)
        if not self.keep_history:
            return
        challenger_version = self.challenger.version if self.challenger is not None else None
        self._pending = [
            ScoredRow(e.tx_id, e.ts, features[i], d.model_version, d.score, challenger_version,
                      None if challenger is None else float(challenger[i]))
            for i, (e, d) in enumerate(zip(events, decisions, strict=True))]

    def write(self, tx: Tx) -> None:
        """The batch's scored rows, in the batch's own transaction."""
        if self._pending:
            HistoryRepository(tx).record(self._pending)
            self._pending = []

    def learn(self, tx: Tx, feedback: Sequence[events_pb2.FraudFeedback], now: float) -> None:
        """Answers (an alert id) and chargebacks (none) as labels, known from when they were given."""
        if not self.keep_history or not feedback:
            return
        HistoryRepository(tx).add_labels(
            LabelRow(fb.transaction_id, fb.confirmed_fraud,
                     fb.answered_at.seconds + fb.answered_at.nanos / 1e9 if fb.HasField("answered_at") else now,
                     ANSWER if fb.alert_id else CHARGEBACK)
            for fb in feedback)
