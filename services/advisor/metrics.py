"""Advisor queue metrics (platform naming scheme; queue names are a small fixed set, never a customer id)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.platform.metrics import PREFIX


@dataclass
class AdvisorMetrics:
    tasks_received: Counter
    claims: Counter
    completed: Counter
    sla_breaches: Counter
    open_tasks: Gauge
    oldest_open_age: Gauge
    outcomes_pending: Gauge
    outcome_send_failures: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AdvisorMetrics:
        return cls(
            tasks_received=Counter(f"{PREFIX}_advisor_tasks_received_total", "New advisor tasks stored",
                                   ("queue", "kind"), registry=registry),
            claims=Counter(f"{PREFIX}_advisor_claims_total", "Tasks claimed by advisors", ("queue",),
                           registry=registry),
            completed=Counter(f"{PREFIX}_advisor_tasks_completed_total", "Tasks completed, by outcome",
                              ("queue", "outcome"), registry=registry),
            sla_breaches=Counter(f"{PREFIX}_advisor_sla_breaches_total",
                                 "Tasks that missed their SLA deadline (counted once each)", ("queue",),
                                 registry=registry),
            open_tasks=Gauge(f"{PREFIX}_advisor_open_tasks", "Tasks not done, by queue and state",
                             ("queue", "state"), registry=registry),
            oldest_open_age=Gauge(f"{PREFIX}_advisor_oldest_open_task_age_seconds",
                                  "Age of the oldest task not done, by queue", ("queue",), registry=registry),
            outcomes_pending=Gauge(f"{PREFIX}_advisor_outcomes_pending",
                                   "Completed tasks' outcomes in the outbox, not yet on advisor-outcomes",
                                   registry=registry),
            outcome_send_failures=Counter(f"{PREFIX}_advisor_outcome_send_failures_total",
                                          "Relay attempts that could not publish the pending outcomes (retried)",
                                          registry=registry),
        )
