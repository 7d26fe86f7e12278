"""Versioned advice policy in the kernel's policy book: thresholds, re-fire windows, precedences and ranking knobs
as data (`policy.json`, validated on load, its JSON Schema published beside it as `policy.schema.json`).

The version in force at an instant is the latest one whose `effective_from` is not after it, so a threshold
change is a new version with a future date, never an edit of history.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from services.platform.policy_book import PolicyBook, PolicySection, PolicyVersion

POLICY_FILE = Path(__file__).with_name("policy.json")


class RuleConfig(PolicySection):
    """One nudge rule: fires only when the absolute AND the percent threshold are met."""

    enabled: bool
    min_amount_minor: int = Field(ge=0)
    min_percent: float = Field(ge=0.0, le=1000.0)
    refire_days: int = Field(ge=0, description="at most one nudge per (type, subject) in this many days")
    precedence: int = Field(description="higher wins inside an exclusive group on the same evaluation")
    value_weight: float = Field(ge=0.0, description="business value (severity) used by the ranking")
    notification_priority: Literal["LOW", "NORMAL", "HIGH", "URGENT"] = "NORMAL"
    params: dict[str, Any] = Field(default_factory=dict)
    measures: str = Field("", description="what the amount and the percent measure, in words")


class RecurringConfig(PolicySection):
    min_occurrences_mature: int = Field(gt=0)
    min_occurrences_early: int = Field(gt=0)
    amount_tolerance_pct: dict[str, float]
    date_tolerance_days: dict[str, int]
    period_interval_days: dict[str, tuple[int, int]]
    misses_to_end: int = Field(gt=0)
    max_occurrences_kept: int = Field(gt=0)
    max_unmatched_per_payee: int = Field(ge=0)
    unmatched_expiry_days: int = Field(gt=0)
    max_series: int = Field(gt=0)
    subscription_mccs: frozenset[str]
    subscription_keywords: tuple[str, ...] = ()
    excluded_mccs: frozenset[str] = frozenset()  # never a series (gambling, cash machines)

    @field_validator("subscription_keywords")
    @classmethod
    def _lower_keywords(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k.lower() for k in keywords)


class SpendingConfig(PolicySection):
    discretionary_window_days: int = Field(gt=0)
    category_history_months: int = Field(gt=0)
    category_min_history_months: int = Field(gt=0)
    daily_balance_window_days: int = Field(gt=0)
    recent_charges_window_minutes: int = Field(gt=0)


class ForecastConfig(PolicySection):
    horizon_days_max: int = Field(gt=0)
    min_history_days: int = Field(ge=0)
    daily_spend_multiplier: float = Field(gt=0.0)
    # A customer's transactions that arrive before the profile are held (not folded) until the profile comes,
    # or until they span `profile_wait_days` of event time or number `profile_wait_max_transactions`.
    profile_wait_days: int = Field(60, ge=0)
    profile_wait_max_transactions: int = Field(1000, ge=0)
    min_horizon_days: int = Field(0, ge=0, description="project at least this far, past a payday that close")
    spend_margin_sd: float = Field(0.0, ge=0.0, description="margin: SDs of the customer's own k-day spending")
    mandates_seen_once: bool = Field(False, description="a direct debit seen once is expected a month later")
    pay_seen_once: bool = Field(False, description="a first pay seen once is expected again weekly or fortnightly "
                                                   "when its size says so against the profile's monthly income")


class BudgetConfig(PolicySection):
    """How many nudges one customer may receive, across every type: in any 7 days and any 30 days. The last
    `high_priority_reserve` of either budget is kept for HIGH-priority nudges (a shortfall, late income)."""

    per_week: int = Field(ge=1)
    per_month: int = Field(ge=1)
    high_priority_reserve: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _coherent(self) -> BudgetConfig:
        if self.per_month < self.per_week:
            raise ValueError("needs 1 <= per_week <= per_month")
        if self.high_priority_reserve >= self.per_week:
            raise ValueError("high_priority_reserve must be within [0, per_week)")
        return self


UNLIMITED = BudgetConfig(per_week=1_000_000, per_month=1_000_000)


class RankingConfig(PolicySection):
    max_sent_per_evaluation: int = Field(gt=0)
    alpha: float = Field(ge=0.0)
    prior_propensity: float = Field(ge=0.0, le=1.0)
    novelty_decay: float = Field(ge=0.0, le=1.0)
    novelty_window_days: int = Field(gt=0)
    reject_limit: int = Field(gt=0)
    suppress_days: int = Field(ge=0)
    send_min_score: float = Field(ge=0.0)
    rewards: dict[str, float]
    rejects: frozenset[str]
    segments: tuple[str, ...]
    balance_bands_minor: tuple[int, ...]
    budget: BudgetConfig = UNLIMITED


class RouteConfig(PolicySection):
    """Where a nudge type is routed to an advisor: the queue, the task's urgency and SLA; any other key of the
    entry is a parameter of the routing rule (e.g. `window_days`)."""

    queue: str
    urgency: float = Field(ge=0.0, le=1.0)
    sla_hours: int = Field(gt=0)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_params(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "params" not in raw:
            known = {"queue", "urgency", "sla_hours"}
            return {**{k: v for k, v in raw.items() if k in known},
                    "params": {k: v for k, v in raw.items() if k not in known}}
        return raw


class Policy(PolicyVersion):
    recurring: RecurringConfig
    spending: SpendingConfig
    forecast: ForecastConfig
    rules: dict[str, RuleConfig]
    exclusive_groups: tuple[frozenset[str], ...] = ()
    ranking: RankingConfig
    routing: dict[str, RouteConfig] = Field(default_factory=dict)

    def rule(self, nudge_type: str) -> RuleConfig:
        return self.rules[nudge_type]


@cache
def policy_book(path: Path = POLICY_FILE) -> PolicyBook[Policy]:
    return PolicyBook.load(path, Policy)


def policy_at(instant: datetime) -> Policy:
    return policy_book().at(instant)
