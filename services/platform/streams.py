"""The input streams several services share, read the same way everywhere."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from services.gen.proactivecare.v1 import events_pb2
from services.platform.kafka_client import Message
from services.platform.runner import Source
from services.platform.settings import Settings
from services.platform.topics import ADVISOR_OUTCOMES, CUSTOMERS, TRANSACTIONS
from services.platform.validation import (
    require,
    require_id,
    transactions_valid,
    validate_customer_profile,
    validate_transaction,
)


def transactions(settings: Settings) -> Source:
    """`transactions`, validated; effects dedupe on the transaction id."""
    return Source(settings.topic(TRANSACTIONS), events_pb2.Transaction.FromString, validate_transaction,
                  event_id=_transaction_id, validate_batch=transactions_valid)


def _transaction_id(tx: events_pb2.Transaction, _record: Message) -> str:
    return tx.id


def customer_profiles(settings: Settings,
                      validate: Callable[[events_pb2.CustomerProfile], None] = validate_customer_profile) -> Source:
    """The compacted `customers` topic; effects dedupe on the profile's content (`profile_event_id`)."""
    return Source(settings.topic(CUSTOMERS), events_pb2.CustomerProfile.FromString, validate,
                  event_id=profile_event_id)


def advisor_outcomes(settings: Settings) -> Source:
    """`advisor-outcomes` (what an advisor recorded on completing a task), validated; effects dedupe on the task."""
    return Source(settings.topic(ADVISOR_OUTCOMES), events_pb2.AdvisorOutcome.FromString, validate_advisor_outcome,
                  event_id=lambda event, _record: f"outcome:{event.task_id}")


def validate_advisor_outcome(event: events_pb2.AdvisorOutcome) -> None:
    require_id(event.task_id, "task_id")
    require_id(event.customer_id, "customer_id")
    require(event.outcome != "", "outcome", "is required", "missing_outcome")


def profile_event_id(profile: events_pb2.CustomerProfile, record: Message) -> str:
    """Who, as of when, and a digest of the bytes: the same profile version redelivered (or re-read after a
    rebalance, from any partition or offset) is recognised; a topic recreated with new profiles is not
    mistaken for the old one, as a partition:offset id would be."""
    digest = hashlib.blake2b(record.value or b"", digest_size=12).hexdigest()
    return f"{profile.customer_id}@{profile.updated_at.ToNanoseconds()}:{digest}"
