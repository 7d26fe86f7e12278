"""The input streams several services share, read the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable

from services.gen.proactivecare.v1 import events_pb2
from services.platform.runner import Source
from services.platform.settings import Settings
from services.platform.topics import CUSTOMERS, TRANSACTIONS
from services.platform.validation import validate_customer_profile, validate_transaction


def transactions(settings: Settings) -> Source:
    """`transactions`, validated; effects dedupe on the transaction id."""
    return Source(settings.topic(TRANSACTIONS), events_pb2.Transaction.FromString, validate_transaction,
                  event_id=lambda tx, _record: tx.id)


def customer_profiles(settings: Settings,
                      validate: Callable[[events_pb2.CustomerProfile], None] = validate_customer_profile) -> Source:
    """The compacted `customers` topic (a profile's position identifies the event)."""
    return Source(settings.topic(CUSTOMERS), events_pb2.CustomerProfile.FromString, validate)
