"""Evaluate one transaction: fold it into the customer's state, run every enabled rule, and keep the
candidates that are outside their re-fire window and win their exclusive group (higher precedence first).

Pure: the state object is updated in memory; storing it is the worker's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.advice.facts import TxFacts
from services.advice.forecast import Forecast, forecast_to_payday
from services.advice.policy import Policy
from services.advice.rules import RULES, Candidate, RuleContext
from services.advice.state import CustomerState, Observation


@dataclass(frozen=True)
class Evaluation:
    observation: Observation
    forecast: Forecast | None
    candidates: tuple[Candidate, ...]  # eligible, highest precedence first
    held_back: tuple[tuple[Candidate, str], ...]  # (candidate, why): re-fire window or a higher precedence


def evaluate(state: CustomerState, tx: TxFacts, policy: Policy) -> Evaluation:
    observation = state.observe(tx, policy)
    if observation.other_account:
        return Evaluation(observation, None, (), ())
    now = tx.timestamp
    forecast = forecast_to_payday(state, observation.today, policy)
    context = RuleContext(state=state, observation=observation, policy=policy, now=now, forecast=forecast)
    raw: list[Candidate] = []
    for nudge_type, rule in RULES.items():
        config = policy.rules.get(nudge_type)
        if config is not None and config.enabled:
            raw.extend(rule(context, config))
    kept, held = select(state, raw, policy, now)
    for candidate in kept:
        state.mark_fired(candidate.type, candidate.subject, now)
    return Evaluation(observation, forecast, tuple(kept), tuple(held))


def select(
    state: CustomerState, raw: list[Candidate], policy: Policy, now: datetime
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Apply re-fire windows, then let the highest precedence win inside each exclusive group."""
    ordered = sorted(raw, key=lambda c: -policy.rule(c.type).precedence)
    kept: list[Candidate] = []
    held: list[tuple[Candidate, str]] = []
    for candidate in ordered:
        last = state.last_fired(candidate.type, candidate.subject)
        window = timedelta(days=policy.rule(candidate.type).refire_days)
        if last is not None and now - last < window:
            held.append((candidate, "REFIRE_WINDOW"))
            continue
        winner = next((k for k in kept if _same_group(policy, k.type, candidate.type)), None)
        if winner is not None:
            held.append((candidate, f"PRECEDENCE:{winner.type}"))
            continue
        kept.append(candidate)
    return kept, held


def _same_group(policy: Policy, a: str, b: str) -> bool:
    return a != b and any(a in group and b in group for group in policy.exclusive_groups)
