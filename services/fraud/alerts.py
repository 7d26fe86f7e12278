"""Fraud alerts: what was raised, and the customer's answer. Pure values and rules, no storage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum

from services.platform.errors import FailedPreconditionError


class AlertStatus(IntEnum):  # numbered as fraud.proto's AlertStatus
    OPEN = 1
    CONFIRMED_GENUINE = 2
    CONFIRMED_FRAUD = 3


@dataclass(frozen=True)
class AlertRecord:
    id: str
    customer_id: str
    transaction_id: str
    card_token: str
    terminal_id: str
    merchant_id: str
    mcc: str
    amount_minor: int
    currency: str
    score: float
    decision: int
    reasons: list[tuple[str, str, float]]
    status: AlertStatus
    created_at: datetime
    resolved_at: datetime | None
    card_frozen: bool
    transaction_time: datetime
    merchant_name: str = ""


def resolve(alert: AlertRecord, confirmed_fraud: bool, now: datetime) -> tuple[AlertRecord, bool]:
    """The alert after the customer's answer, and whether anything changed.

    Answering again with the same answer changes nothing (a retried call). An answer cannot be changed
    once given: a customer who first said "it was me" and later finds fraud disputes the payment instead."""
    wanted = AlertStatus.CONFIRMED_FRAUD if confirmed_fraud else AlertStatus.CONFIRMED_GENUINE
    if alert.status == wanted:
        return alert, False
    if alert.status != AlertStatus.OPEN:
        raise FailedPreconditionError(f"alert {alert.id} was already answered ({alert.status.name})")
    return replace(alert, status=wanted, resolved_at=now, card_frozen=confirmed_fraud or alert.card_frozen), True
