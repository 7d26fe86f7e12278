"""LinUCB (disjoint arms) over a small context: which nudge type works for which kind of customer.

One arm per nudge type; the context is a one-hot of the customer's segment and balance band plus a bias.
Each arm keeps A = I + sum(x x^T) and b = sum((reward - prior) x); its propensity for a context x is
prior + theta.x + alpha * sqrt(x^T A^-1 x), with theta = A^-1 b. The square-root term is the exploration bonus:
large for contexts an arm has rarely been tried in, shrinking as answers arrive. Rewards are centred on the
prior, so an untried arm starts at the prior propensity and "not helpful" answers pull it below.

The state is a small JSON document (a d x d matrix and a d vector per arm, d = 2 + segments + bands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.advice.policy import RankingConfig


@dataclass(frozen=True)
class Context:
    segment: str
    balance_band: int  # index into the policy's balance bands

    def to_dict(self) -> dict[str, object]:
        return {"segment": self.segment, "balance_band": self.balance_band}

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Context:
        return cls(str(raw.get("segment", "")), int(raw.get("balance_band", 0)))  # type: ignore[call-overload]


def balance_band(balance_minor: int | None, config: RankingConfig) -> int:
    """0 = overdrawn (or unknown), then one band per boundary passed: 1 = up to the first boundary, ..."""
    if balance_minor is None or balance_minor < config.balance_bands_minor[0]:
        return 0
    return 1 + sum(1 for edge in config.balance_bands_minor[1:] if balance_minor >= edge)


def features(context: Context, config: RankingConfig) -> np.ndarray:
    segments = list(config.segments)
    bands = len(config.balance_bands_minor) + 1
    x = np.zeros(1 + len(segments) + 1 + bands)
    x[0] = 1.0
    index = segments.index(context.segment) if context.segment in segments else len(segments)
    x[1 + index] = 1.0
    x[1 + len(segments) + 1 + min(max(context.balance_band, 0), bands - 1)] = 1.0
    return x


class LinUCB:
    def __init__(self, config: RankingConfig, arms: dict[str, dict[str, list]] | None = None) -> None:
        self.config = config
        self._dim = len(features(Context("", 0), config))
        self._arms: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for name, raw in (arms or {}).items():
            a, b = np.array(raw["A"], dtype=float), np.array(raw["b"], dtype=float)
            if a.shape == (self._dim, self._dim) and b.shape == (self._dim,):
                self._arms[name] = (a, b, int(raw.get("n", [0])[0]))

    def _arm(self, name: str) -> tuple[np.ndarray, np.ndarray, int]:
        return self._arms.get(name) or (np.eye(self._dim), np.zeros(self._dim), 0)

    def propensity(self, arm: str, context: Context) -> tuple[float, float]:
        """(expected reward, exploration bonus) for showing `arm` in `context`."""
        a, b, _ = self._arm(arm)
        x = features(context, self.config)
        a_inv = np.linalg.inv(a)
        mean = self.config.prior_propensity + float((a_inv @ b) @ x)
        bonus = self.config.alpha * float(np.sqrt(x @ a_inv @ x))
        return mean, bonus

    def score(self, arm: str, context: Context) -> float:
        mean, bonus = self.propensity(arm, context)
        return max(0.0, mean + bonus)

    def update(self, arm: str, context: Context, reward: float) -> None:
        a, b, n = self._arm(arm)
        x = features(context, self.config)
        self._arms[arm] = (a + np.outer(x, x), b + (reward - self.config.prior_propensity) * x, n + 1)

    def observations(self, arm: str) -> int:
        return self._arm(arm)[2]

    def to_dict(self) -> dict[str, dict[str, list]]:
        return {name: {"A": a.tolist(), "b": b.tolist(), "n": [n]} for name, (a, b, n) in self._arms.items()}
