"""Route a stored notification through the customer's preferences: deliver now, hold, or drop."""

from __future__ import annotations

from datetime import UTC, datetime

from services.gen.proactivecare.v1 import events_pb2, notify_pb2
from services.notify.policy import Decision, Outcome, decide, default_preferences, load_policy, local_day_start
from services.notify.policy import local_week_start as week_start
from services.notify.repository import NotifyRepository
from services.platform.validation import time_zone_or


def preferences(repo: NotifyRepository, customer_id: str) -> notify_pb2.Preferences:
    stored = repo.load_preferences(customer_id)
    return stored or default_preferences(customer_id, repo.customer_time_zone(customer_id))


def route(repo: NotifyRepository, n: events_pb2.Notification, now: datetime) -> Decision:
    """Apply the policy to a notification already in the table; returns what happened."""
    policy = load_policy()
    prefs = preferences(repo, n.customer_id)
    local = now.astimezone(time_zone_or(prefs.time_zone, policy.default_time_zone))
    urgent = policy.urgent_kind_values
    decision = decide(
        n.kind, n.priority, now.astimezone(UTC), prefs,
        sent_today=repo.count_delivered_since(n.customer_id, local_day_start(local), urgent),
        sent_this_week=repo.count_delivered_since(n.customer_id, week_start(local), urgent),
        policy=policy)
    if decision.outcome == Outcome.DELIVER:
        repo.deliver(n.id, n.customer_id, now)
    elif decision.release_at is not None:
        repo.hold(n.id, decision.release_at, decision.outcome.value)
    else:
        repo.drop(n.id, decision.outcome.value)
    return decision
