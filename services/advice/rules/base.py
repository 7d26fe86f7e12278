"""What every nudge rule shares: its input (`RuleContext`), its output (`Candidate`), and the threshold test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from services.advice.facts import TxFacts
from services.advice.forecast import Forecast
from services.advice.policy import Policy, RuleConfig
from services.advice.state import CustomerState, Observation
from services.platform.money import format_money
from services.platform.reasons import Reason


@dataclass(frozen=True)
class Candidate:
    """An eligible nudge before ranking. `subject` keys its re-fire window (a series, a category, "balance")."""

    type: str
    subject: str
    title: str
    body: str
    reasons: tuple[Reason, ...]
    data: dict[str, str] = field(default_factory=dict)
    value_minor: int = 0  # money at stake for the customer
    confidence: float = 1.0  # how sure the rule is (0..1]; part of the nudge's expected value


@dataclass(frozen=True)
class RuleContext:
    state: CustomerState
    observation: Observation
    policy: Policy
    now: datetime
    forecast: Forecast | None

    @property
    def tx(self) -> TxFacts:
        return self.observation.tx

    @property
    def today(self) -> date:
        return self.observation.today

    @property
    def currency(self) -> str:
        return self.state.currency or self.tx.currency

    def money(self, amount_minor: int) -> str:
        return format_money(amount_minor, self.currency)


Rule = Callable[[RuleContext, RuleConfig], list[Candidate]]


def meets(rule: RuleConfig, amount_minor: int, percent: float) -> bool:
    """Both thresholds: the absolute amount AND the percent."""
    return amount_minor >= rule.min_amount_minor and percent >= rule.min_percent


def percent_of(part: int, whole: int) -> float:
    return 0.0 if whole <= 0 else part * 100.0 / whole


def day_text(day: date) -> str:
    """`Thu 26 Nov`: how a customer reads a day."""
    return day.strftime("%a %-d %b")


def days_text(count: int) -> str:
    """`1 day`, `3 days`: how a customer reads a number of days."""
    return f"{count} day" if count == 1 else f"{count} days"
