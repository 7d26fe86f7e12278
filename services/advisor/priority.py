"""Task priority and SLA arithmetic (pure)."""

from __future__ import annotations

from datetime import datetime

from services.platform.money import CURRENCY_EXPONENTS


def priority(value_minor: int, currency: str, urgency: float) -> float:
    """value x urgency, with the value in major units so currencies with different exponents compare."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    return round(value_minor / 10**exponent * max(0.0, min(urgency, 1.0)), 4)


def sla_breached(deadline: datetime, now: datetime, completed_at: datetime | None = None) -> bool:
    """Breached when finished after the deadline, or not finished and the deadline has passed."""
    return (completed_at or now) > deadline
