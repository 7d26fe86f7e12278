"""Choose which eligible nudges to send: priority = propensity (LinUCB) x business value x novelty, with
suppression after repeated rejects. Also how a customer's answer updates the fatigue record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.advice.bandit import Context, LinUCB
from services.advice.policy import Policy, RankingConfig
from services.advice.rules import Candidate


@dataclass
class Fatigue:
    """One customer's history with one nudge type."""

    sent: list[datetime] = field(default_factory=list)
    reject_streak: int = 0
    suppressed_until: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {"sent": [t.isoformat() for t in self.sent], "reject_streak": self.reject_streak,
                "suppressed_until": self.suppressed_until.isoformat() if self.suppressed_until else None}

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Fatigue:
        until = raw.get("suppressed_until")
        return cls([datetime.fromisoformat(t) for t in raw.get("sent", [])],  # type: ignore[attr-defined]
                   int(raw.get("reject_streak", 0)),  # type: ignore[call-overload]
                   datetime.fromisoformat(str(until)) if until else None)

    def suppressed(self, now: datetime) -> bool:
        return self.suppressed_until is not None and now < self.suppressed_until

    def novelty(self, now: datetime, config: RankingConfig) -> float:
        """1.0 for a type not seen lately; times `novelty_decay` for each one sent in the window."""
        window = timedelta(days=config.novelty_window_days)
        recent = sum(1 for t in self.sent if now - t < window)
        return config.novelty_decay**recent


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    score: float
    sent: bool
    why: str  # "SELECTED", "SUPPRESSED", "OUTRANKED", "BELOW_MIN_SCORE", "BUDGET_WEEK", "BUDGET_MONTH"


def rank(
    candidates: list[Candidate], context: Context, bandit: LinUCB, fatigue: dict[str, Fatigue],
    policy: Policy, now: datetime,
) -> list[Ranked]:
    """Best first (expected value = propensity x value weight x confidence x novelty); at most
    `max_sent_per_evaluation` are marked to send, and only while the customer's weekly and monthly budgets
    across every type allow it."""
    config = policy.ranking
    scored: list[tuple[float, Candidate, bool]] = []
    for candidate in candidates:
        history = fatigue.get(candidate.type, Fatigue())
        score = (bandit.score(candidate.type, context) * policy.rule(candidate.type).value_weight
                 * candidate.confidence * history.novelty(now, config))
        scored.append((score, candidate, history.suppressed(now)))
    scored.sort(key=lambda item: (-item[0], -policy.rule(item[1].type).precedence, item[1].type, item[1].subject))
    ranked: list[Ranked] = []
    per_evaluation = config.max_sent_per_evaluation
    week_left, month_left = budget_left(fatigue, now, config)
    for score, candidate, suppressed in scored:
        reserve = 0 if policy.rule(candidate.type).notification_priority == "HIGH" \
            else config.budget.high_priority_reserve
        if suppressed:
            ranked.append(Ranked(candidate, score, False, "SUPPRESSED"))
        elif score < config.send_min_score:
            ranked.append(Ranked(candidate, score, False, "BELOW_MIN_SCORE"))
        elif per_evaluation <= 0:
            ranked.append(Ranked(candidate, score, False, "OUTRANKED"))
        elif week_left <= reserve:
            ranked.append(Ranked(candidate, score, False, "BUDGET_WEEK"))
        elif month_left <= reserve:
            ranked.append(Ranked(candidate, score, False, "BUDGET_MONTH"))
        else:
            per_evaluation -= 1
            week_left, month_left = week_left - 1, month_left - 1
            ranked.append(Ranked(candidate, score, True, "SELECTED"))
    return ranked


BUDGET_WEEK_DAYS, BUDGET_MONTH_DAYS = 7, 30


def budget_left(fatigue: dict[str, Fatigue], now: datetime, config: RankingConfig) -> tuple[int, int]:
    """Nudges the customer may still receive in the 7 and the 30 days ending now, across every type."""
    sent = [t for history in fatigue.values() for t in history.sent]
    week = sum(1 for t in sent if now - t < timedelta(days=BUDGET_WEEK_DAYS))
    month = sum(1 for t in sent if now - t < timedelta(days=BUDGET_MONTH_DAYS))
    return config.budget.per_week - week, config.budget.per_month - month


def record_sent(history: Fatigue, now: datetime, config: RankingConfig) -> Fatigue:
    window = timedelta(days=max(config.novelty_window_days, BUDGET_MONTH_DAYS))  # the budget reads 30 days back
    return Fatigue([t for t in history.sent if now - t < window] + [now], history.reject_streak,
                   history.suppressed_until)


def record_response(history: Fatigue, response: str, now: datetime, config: RankingConfig) -> Fatigue:
    """A reject extends the streak; `reject_limit` in a row suppresses the type for `suppress_days`.
    Any positive answer clears the streak."""
    if response in config.rejects:
        streak = history.reject_streak + 1
        if streak >= config.reject_limit:
            return Fatigue(history.sent, 0, now + timedelta(days=config.suppress_days))
        return Fatigue(history.sent, streak, history.suppressed_until)
    return Fatigue(history.sent, 0, history.suppressed_until)


def reward_of(response: str, config: RankingConfig) -> float | None:
    return config.rewards.get(response)
