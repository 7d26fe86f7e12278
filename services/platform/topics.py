"""Topic names and how they are laid out. Keys are customer ids, so each customer's events stay in order."""

from __future__ import annotations

from dataclasses import dataclass

TRANSACTIONS = "transactions"
CUSTOMERS = "customers"
NOTIFICATIONS = "notifications"
FRAUD_FEEDBACK = "fraud-feedback"
ADVISOR_TASKS = "advisor-tasks"
ADVISOR_OUTCOMES = "advisor-outcomes"  # what advisors did with their tasks (services/advisor/outcomes.py)
CARE_FOLLOWUPS = "care-followups"  # did the care work? (services/platform/followups.py)
AUDIT = "audit"  # staff access to customer data (services/platform/audit.py); the table is the record


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return f"{topic}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


SOURCE_TOPICS = (
    TopicSpec(TRANSACTIONS, 6),
    TopicSpec(CUSTOMERS, 6, compacted=True),
    TopicSpec(NOTIFICATIONS, 6),
    TopicSpec(FRAUD_FEEDBACK, 3),
    TopicSpec(ADVISOR_TASKS, 3),
    TopicSpec(ADVISOR_OUTCOMES, 3),
    TopicSpec(CARE_FOLLOWUPS, 3),
)
AUDIT_TOPICS = (TopicSpec(AUDIT, 3),)

ALL_TOPICS = SOURCE_TOPICS + tuple(TopicSpec(dlq(t.name), 1) for t in SOURCE_TOPICS) + AUDIT_TOPICS
