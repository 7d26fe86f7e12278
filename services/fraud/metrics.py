"""Fraud metrics (platform naming scheme). Labels are decisions and reason codes: small fixed sets."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.fraud.verdict import Verdict
from services.platform import followups
from services.platform.metrics import PREFIX

if TYPE_CHECKING:
    from services.fraud.decision import FraudDecision
    from services.fraud.model import FraudModel

SHADOW_AGREEMENT = ("agree", "challenger_higher", "champion_higher")
SCORE_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0)


@dataclass
class FraudMetrics:
    decisions: Counter
    score: Histogram
    alerts: Counter
    feedback: Counter
    scoring_seconds: Histogram
    batch_size: Histogram
    model: Gauge
    followups: Counter
    shadow: Counter
    model_events: Counter
    retrains: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> FraudMetrics:
        m = cls(
            decisions=Counter(f"{PREFIX}_fraud_decisions_total", "Scored card transactions by decision and path",
                              ("path", "decision"), registry=registry),
            score=Histogram(f"{PREFIX}_fraud_score", "Model scores (watch for drift)", ("path",),
                            buckets=SCORE_BUCKETS, registry=registry),
            alerts=Counter(f"{PREFIX}_fraud_alerts_raised_total", "Alerts stored and notified", ("decision",),
                           registry=registry),
            feedback=Counter(f"{PREFIX}_fraud_feedback_total", "Customers' answers to alerts",
                             ("answer",), registry=registry),
            scoring_seconds=Histogram(f"{PREFIX}_fraud_scoring_seconds",
                                      "Features + one model call for a batch", ("path",),
                                      buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
                                      registry=registry),
            batch_size=Histogram(f"{PREFIX}_fraud_scoring_batch_size", "Transactions per model call", ("path",),
                                 buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048), registry=registry),
            model=Gauge(f"{PREFIX}_fraud_model_info", "The models loaded (1): role = champion (decides) or "
                        "challenger (shadow); serving = compiled or scikit-learn",
                        ("version", "algorithm", "serving", "role"), registry=registry),
            followups=followups.counter(registry),
            shadow=Counter(f"{PREFIX}_fraud_shadow_decisions_total", "Stream payments the challenger scored in "
                           "shadow: same score band as the champion (agree) or a higher one", ("agreement",),
                           registry=registry),
            model_events=Counter(f"{PREFIX}_fraud_model_events_total", "Champion changes this process took up "
                                 "(promoted, rolled_back)", ("event",), registry=registry),
            retrains=Counter(f"{PREFIX}_fraud_retrain_runs_total", "Scheduled retraining runs by outcome",
                             ("outcome",), registry=registry),
        )
        for path in ("stream", "rpc"):
            for v in Verdict:
                m.decisions.labels(path, v.name)
        for answer in ("genuine", "fraud", "unmatched"):
            m.feedback.labels(answer)
        for agreement in SHADOW_AGREEMENT:
            m.shadow.labels(agreement)
        for event in ("promoted", "rolled_back"):
            m.model_events.labels(event)
        return m

    def show_models(self, champion: FraudModel, challenger: FraudModel | None = None) -> None:
        """`proactivecare_fraud_model_info`: one series per loaded model, by role."""
        self.model.clear()
        for role, model in (("champion", champion), ("challenger", challenger)):
            if model is not None:
                serving = "compiled" if model.compiled is not None else "scikit-learn"
                self.model.labels(model.version, model.card.algorithm, serving, role).set(1)

    def count_decisions(self, path: str, decisions: Sequence[FraudDecision]) -> None:
        """A batch's decisions: one counter increment per verdict, every score into the drift histogram."""
        for verdict, n in Tally(d.verdict for d in decisions).items():
            self.decisions.labels(path, verdict.name).inc(n)
        observe = self.score.labels(path).observe
        for d in decisions:
            observe(d.score)
