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
            model=Gauge(f"{PREFIX}_fraud_model_info", "The model in service (1); serving = compiled or scikit-learn",
                        ("version", "algorithm", "serving"), registry=registry),
            followups=followups.counter(registry),
        )
        for path in ("stream", "rpc"):
            for v in Verdict:
                m.decisions.labels(path, v.name)
        for answer in ("genuine", "fraud", "unmatched"):
            m.feedback.labels(answer)
        return m

    def count_decisions(self, path: str, decisions: Sequence[FraudDecision]) -> None:
        """A batch's decisions: one counter increment per verdict, every score into the drift histogram."""
        for verdict, n in Tally(d.verdict for d in decisions).items():
            self.decisions.labels(path, verdict.name).inc(n)
        observe = self.score.labels(path).observe
        for d in decisions:
            observe(d.score)
