"""Versioned advice policy: thresholds, re-fire windows, precedences and ranking knobs as data.

`policy.json` holds a list of versions, each with an `effective_from` instant (UTC). The version in force at
an instant is the latest one whose `effective_from` is not after it, so a threshold change is a new version
with a future date, never an edit of history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.platform.errors import ValidationError

POLICY_FILE = Path(__file__).with_name("policy.json")


@dataclass(frozen=True)
class RuleConfig:
    """One nudge rule: fires only when the absolute AND the percent threshold are met."""

    enabled: bool
    min_amount_minor: int
    min_percent: float
    refire_days: int
    precedence: int
    value_weight: float
    notification_priority: str = "NORMAL"  # events.proto Priority name
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecurringConfig:
    min_occurrences_mature: int
    min_occurrences_early: int
    amount_tolerance_pct: dict[str, float]
    date_tolerance_days: dict[str, int]
    period_interval_days: dict[str, tuple[int, int]]
    misses_to_end: int
    max_occurrences_kept: int
    max_unmatched_per_payee: int
    unmatched_expiry_days: int
    max_series: int
    subscription_mccs: frozenset[str]
    subscription_keywords: tuple[str, ...] = ()
    excluded_mccs: frozenset[str] = frozenset()  # never a series (gambling, cash machines)


@dataclass(frozen=True)
class SpendingConfig:
    discretionary_window_days: int
    category_history_months: int
    category_min_history_months: int
    daily_balance_window_days: int
    recent_charges_window_minutes: int


@dataclass(frozen=True)
class ForecastConfig:
    horizon_days_max: int
    min_history_days: int
    daily_spend_multiplier: float
    # A customer's transactions that arrive before the profile are held (not folded) until the profile comes,
    # or until they span `profile_wait_days` of event time or number `profile_wait_max_transactions`.
    profile_wait_days: int = 60
    profile_wait_max_transactions: int = 1000
    min_horizon_days: int = 0        # project at least this far, past a payday that close (pay credited)
    spend_margin_sd: float = 0.0     # spending margin: standard deviations of the customer's own k-day spending


@dataclass(frozen=True)
class BudgetConfig:
    """How many nudges one customer may receive, across every type: in any 7 days and any 30 days. The last
    `high_priority_reserve` of either budget is kept for HIGH-priority nudges (a shortfall, late income)."""

    per_week: int
    per_month: int
    high_priority_reserve: int = 0


UNLIMITED = BudgetConfig(per_week=1_000_000, per_month=1_000_000)


@dataclass(frozen=True)
class RankingConfig:
    max_sent_per_evaluation: int
    alpha: float
    prior_propensity: float
    novelty_decay: float
    novelty_window_days: int
    reject_limit: int
    suppress_days: int
    send_min_score: float
    rewards: dict[str, float]
    rejects: frozenset[str]
    segments: tuple[str, ...]
    balance_bands_minor: tuple[int, ...]
    budget: BudgetConfig = UNLIMITED


@dataclass(frozen=True)
class RouteConfig:
    queue: str
    urgency: float
    sla_hours: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    version: str
    effective_from: datetime
    recurring: RecurringConfig
    spending: SpendingConfig
    forecast: ForecastConfig
    rules: dict[str, RuleConfig]
    exclusive_groups: tuple[frozenset[str], ...]
    ranking: RankingConfig
    routing: dict[str, RouteConfig]

    def rule(self, nudge_type: str) -> RuleConfig:
        return self.rules[nudge_type]


@dataclass(frozen=True)
class PolicyBook:
    """All versions, oldest first."""

    versions: tuple[Policy, ...]

    def at(self, instant: datetime) -> Policy:
        if instant.tzinfo is None:
            raise ValidationError("instant", "must be timezone-aware (UTC)")
        chosen = None
        for version in self.versions:
            if version.effective_from <= instant:
                chosen = version
        if chosen is None:
            raise ValidationError("instant", f"no advice policy is in force at {instant.isoformat()}")
        return chosen


def parse_policy_book(document: dict[str, Any]) -> PolicyBook:
    versions = [_parse_version(v, f"versions[{i}]") for i, v in enumerate(document.get("versions", []))]
    if not versions:
        raise ValidationError("versions", "at least one policy version is required")
    versions.sort(key=lambda p: p.effective_from)
    return PolicyBook(tuple(versions))


@lru_cache(maxsize=4)
def load_policy_book(path: str = str(POLICY_FILE)) -> PolicyBook:
    with open(path, encoding="utf-8") as handle:
        return parse_policy_book(json.load(handle))


def _parse_budget(raw: dict[str, Any] | None, where: str) -> BudgetConfig:
    if raw is None:
        return UNLIMITED
    budget = BudgetConfig(int(raw["per_week"]), int(raw["per_month"]), int(raw.get("high_priority_reserve", 0)))
    if budget.per_week < 1 or budget.per_month < budget.per_week:
        raise ValidationError(f"{where}.per_month", "needs 1 <= per_week <= per_month")
    if not 0 <= budget.high_priority_reserve < budget.per_week:
        raise ValidationError(f"{where}.high_priority_reserve", "must be within [0, per_week)")
    return budget


def _parse_version(raw: dict[str, Any], where: str) -> Policy:
    try:
        effective = datetime.fromisoformat(raw["effective_from"].replace("Z", "+00:00")).astimezone(UTC)
        rec = raw["recurring"]
        rules = {name: _parse_rule(cfg, f"{where}.rules.{name}") for name, cfg in raw["rules"].items()}
        ranking = raw["ranking"]
        return Policy(
            version=str(raw["version"]),
            effective_from=effective,
            recurring=RecurringConfig(
                min_occurrences_mature=int(rec["min_occurrences_mature"]),
                min_occurrences_early=int(rec["min_occurrences_early"]),
                amount_tolerance_pct={k: float(v) for k, v in rec["amount_tolerance_pct"].items()},
                date_tolerance_days={k: int(v) for k, v in rec["date_tolerance_days"].items()},
                period_interval_days={k: (int(v[0]), int(v[1])) for k, v in rec["period_interval_days"].items()},
                misses_to_end=int(rec["misses_to_end"]),
                max_occurrences_kept=int(rec["max_occurrences_kept"]),
                max_unmatched_per_payee=int(rec["max_unmatched_per_payee"]),
                unmatched_expiry_days=int(rec["unmatched_expiry_days"]),
                max_series=int(rec["max_series"]),
                subscription_mccs=frozenset(rec["subscription_mccs"]),
                subscription_keywords=tuple(str(k).lower() for k in rec.get("subscription_keywords", [])),
                excluded_mccs=frozenset(rec.get("excluded_mccs", [])),
            ),
            spending=SpendingConfig(**{k: int(v) for k, v in raw["spending"].items()}),
            forecast=ForecastConfig(
                horizon_days_max=int(raw["forecast"]["horizon_days_max"]),
                min_history_days=int(raw["forecast"]["min_history_days"]),
                daily_spend_multiplier=float(raw["forecast"]["daily_spend_multiplier"]),
                profile_wait_days=int(raw["forecast"].get("profile_wait_days", 60)),
                profile_wait_max_transactions=int(raw["forecast"].get("profile_wait_max_transactions", 1000)),
                min_horizon_days=int(raw["forecast"].get("min_horizon_days", 0)),
                spend_margin_sd=float(raw["forecast"].get("spend_margin_sd", 0.0)),
            ),
            rules=rules,
            exclusive_groups=tuple(frozenset(g) for g in raw.get("exclusive_groups", [])),
            ranking=RankingConfig(
                max_sent_per_evaluation=int(ranking["max_sent_per_evaluation"]),
                alpha=float(ranking["alpha"]),
                prior_propensity=float(ranking["prior_propensity"]),
                novelty_decay=float(ranking["novelty_decay"]),
                novelty_window_days=int(ranking["novelty_window_days"]),
                reject_limit=int(ranking["reject_limit"]),
                suppress_days=int(ranking["suppress_days"]),
                send_min_score=float(ranking["send_min_score"]),
                rewards={k: float(v) for k, v in ranking["rewards"].items()},
                rejects=frozenset(ranking["rejects"]),
                segments=tuple(ranking["segments"]),
                balance_bands_minor=tuple(int(b) for b in ranking["balance_bands_minor"]),
                budget=_parse_budget(ranking.get("budget"), f"{where}.ranking.budget"),
            ),
            routing={
                kind: RouteConfig(
                    queue=str(cfg["queue"]), urgency=float(cfg["urgency"]), sla_hours=int(cfg["sla_hours"]),
                    params={k: v for k, v in cfg.items() if k not in {"queue", "urgency", "sla_hours"}},
                )
                for kind, cfg in raw.get("routing", {}).items()
            },
        )
    except KeyError as missing:
        raise ValidationError(f"{where}.{missing.args[0]}", "is required") from None
    except (TypeError, ValueError) as bad:
        if isinstance(bad, ValidationError):
            raise
        raise ValidationError(where, f"is malformed: {bad}") from None


def _parse_rule(cfg: dict[str, Any], where: str) -> RuleConfig:
    rule = RuleConfig(
        enabled=bool(cfg["enabled"]),
        min_amount_minor=int(cfg["min_amount_minor"]),
        min_percent=float(cfg["min_percent"]),
        refire_days=int(cfg["refire_days"]),
        precedence=int(cfg["precedence"]),
        value_weight=float(cfg["value_weight"]),
        notification_priority=str(cfg.get("notification_priority", "NORMAL")),
        params=dict(cfg.get("params", {})),
    )
    if rule.min_amount_minor < 0:
        raise ValidationError(f"{where}.min_amount_minor", "must not be negative")
    if not 0.0 <= rule.min_percent <= 1000.0:
        raise ValidationError(f"{where}.min_percent", "must be between 0 and 1000")
    if rule.notification_priority not in ("LOW", "NORMAL", "HIGH", "URGENT"):
        raise ValidationError(f"{where}.notification_priority", "must be LOW, NORMAL, HIGH or URGENT")
    if rule.refire_days < 0:
        raise ValidationError(f"{where}.refire_days", "must not be negative")
    return rule
