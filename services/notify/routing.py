"""Route a stored notification through the customer's preferences: deliver now, hold, or drop."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.gen.proactivecare.v1 import events_pb2, notify_pb2
from services.notify import repository
from services.notify.policy import Decision, Outcome, decide, default_preferences, load_policy, local_day_start
from services.notify.policy import local_week_start as week_start


def preferences(conn: sqlite3.Connection, customer_id: str) -> notify_pb2.Preferences:
    stored = repository.load_preferences(conn, customer_id)
    return stored or default_preferences(customer_id, repository.customer_time_zone(conn, customer_id))


def route(tx: sqlite3.Connection, n: events_pb2.Notification, now: float) -> Decision:
    """Apply the policy to a notification already in the table; returns what happened."""
    policy = load_policy()
    prefs = preferences(tx, n.customer_id)
    local = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(prefs.time_zone or policy.default_time_zone))
    urgent = policy.urgent_kinds
    decision = decide(
        n.kind, n.priority, datetime.fromtimestamp(now, UTC), prefs,
        sent_today=repository.count_delivered_since(tx, n.customer_id, local_day_start(local).timestamp(), urgent),
        sent_this_week=repository.count_delivered_since(tx, n.customer_id, week_start(local).timestamp(), urgent),
        policy=policy)
    if decision.outcome == Outcome.DELIVER:
        repository.deliver(tx, n.id, n.customer_id, now)
    elif decision.release_at is not None:
        repository.hold(tx, n.id, decision.release_at.timestamp(), decision.outcome.value)
    else:
        repository.drop(tx, n.id, decision.outcome.value)
    return decision
