"""The model lifecycle's settings (environment variables with working defaults). The promotion rule itself (margin,
evaluation days, minimum labels) is versioned policy data: `policy/fraud_policy.json`, `promotion`."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "") or default


@dataclass(frozen=True)
class LifecycleSettings:
    # days of scored payments (feature rows, scores) and labels kept for retraining; 0: none kept, no retraining
    history_days: float = 35.0
    # how often a live worker looks at the model directory's roles (a promotion is taken up at the next batch
    # after it is seen)
    reload_seconds: float = 5.0
    # the scheduled retraining in the service (one replica is enough: enable it on one, or run `fraud retrain` as
    # a cron job); 0: off
    retrain_every_seconds: float = 0.0
    retrain_algorithm: str = "hist_gradient_boosting"

    @classmethod
    def from_env(cls) -> LifecycleSettings:
        d = cls()
        return cls(
            history_days=float(_env("FRAUD_HISTORY_DAYS", str(d.history_days))),
            reload_seconds=float(_env("FRAUD_MODEL_RELOAD_SECONDS", str(d.reload_seconds))),
            retrain_every_seconds=float(_env("FRAUD_RETRAIN_EVERY_SECONDS", str(d.retrain_every_seconds))),
            retrain_algorithm=_env("FRAUD_RETRAIN_ALGORITHM", d.retrain_algorithm),
        )
