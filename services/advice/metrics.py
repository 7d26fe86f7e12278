"""Advice metrics (platform naming scheme). Labels are nudge types, reasons and responses: small fixed sets."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.platform import followups
from services.platform.metrics import PREFIX


@dataclass
class AdviceMetrics:
    eligible: Counter
    sent: Counter
    held: Counter
    advisor_tasks: Counter
    responses: Counter
    evaluate_seconds: Histogram
    followups: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AdviceMetrics:
        return cls(
            eligible=Counter(f"{PREFIX}_advice_nudges_eligible_total", "Nudges that passed their rule and re-fire"
                             " window", ("type",), registry=registry),
            sent=Counter(f"{PREFIX}_advice_nudges_sent_total", "Nudges chosen by the ranking and sent",
                         ("type",), registry=registry),
            held=Counter(f"{PREFIX}_advice_nudges_held_total", "Eligible nudges not sent, by why",
                         ("type", "why"), registry=registry),
            advisor_tasks=Counter(f"{PREFIX}_advice_advisor_tasks_raised_total", "Cases routed to advisors",
                                  ("kind",), registry=registry),
            responses=Counter(f"{PREFIX}_advice_nudge_responses_total", "Customers' answers to nudges",
                              ("type", "response"), registry=registry),
            evaluate_seconds=Histogram(f"{PREFIX}_advice_evaluate_seconds",
                                       "Time to evaluate one transaction (state, rules, ranking)",
                                       buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
                                       registry=registry),
            followups=followups.counter(registry),
        )
