"""Pure validators for the events every service consumes. Each failure names the field and a reason code."""

from __future__ import annotations

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.platform.errors import ValidationError
from services.platform.money import is_currency

MAX_AMOUNT_MINOR = 10**13  # a hundred billion in major units: anything above is a corrupt record


def require(condition: bool, field: str, message: str, reason: str = "invalid") -> None:
    if not condition:
        raise ValidationError(field, message, reason)


def validate_money(money: common_pb2.Money, field: str, *, allow_negative: bool = False) -> None:
    require(money.currency != "", f"{field}.currency", "is required", "missing_currency")
    require(is_currency(money.currency), f"{field}.currency",
            f"unknown ISO 4217 currency {money.currency!r}", "unknown_currency")
    require(allow_negative or money.amount_minor >= 0, f"{field}.amount_minor",
            "must not be negative (the direction gives the sign)", "negative_amount")
    require(abs(money.amount_minor) <= MAX_AMOUNT_MINOR, f"{field}.amount_minor", "is out of range",
            "amount_out_of_range")


def validate_transaction(tx: events_pb2.Transaction, field: str = "transaction") -> None:
    """A transaction any service can act on. Raises ValidationError naming the first bad field."""
    require(tx.id != "", f"{field}.id", "is required", "missing_id")
    require(len(tx.id) <= 128, f"{field}.id", "is longer than 128 characters", "invalid_id")
    require(tx.customer_id != "", f"{field}.customer_id", "is required", "missing_customer_id")
    require(tx.HasField("timestamp") and tx.timestamp.seconds > 0, f"{field}.timestamp", "is required",
            "missing_timestamp")
    require(tx.HasField("amount"), f"{field}.amount", "is required", "missing_amount")
    validate_money(tx.amount, f"{field}.amount")
    require(tx.direction != events_pb2.DIRECTION_UNSPECIFIED, f"{field}.direction", "must be DEBIT or CREDIT",
            "missing_direction")
    require(tx.channel != events_pb2.CHANNEL_UNSPECIFIED, f"{field}.channel", "is required", "missing_channel")
    if tx.HasField("balance_after"):
        validate_money(tx.balance_after, f"{field}.balance_after", allow_negative=True)
        require(tx.balance_after.currency == tx.amount.currency, f"{field}.balance_after.currency",
                "differs from the amount's currency", "currency_mismatch")
    require(not _looks_like_pan(tx.card_token), f"{field}.card_token",
            "looks like a card number: send a token, never a PAN", "pan_detected")


def validate_customer_profile(p: events_pb2.CustomerProfile, field: str = "profile") -> None:
    require(p.customer_id != "", f"{field}.customer_id", "is required", "missing_customer_id")
    for i, product in enumerate(p.products):
        if product.type == events_pb2.MORTGAGE:
            m = product.mortgage
            validate_money(m.balance, f"{field}.products[{i}].mortgage.balance")
            require(m.remaining_term_months >= 0, f"{field}.products[{i}].mortgage.remaining_term_months",
                    "must not be negative", "invalid_term")


def _looks_like_pan(token: str) -> bool:
    """13-19 digits passing the Luhn check: a card number that must never enter the system."""
    digits = token.replace(" ", "").replace("-", "")
    if not (13 <= len(digits) <= 19 and digits.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def validate_notification(n: events_pb2.Notification, field: str = "notification") -> None:
    """What the notification gateway accepts (producers may call it before sending)."""
    require(n.id != "", f"{field}.id", "is required", "missing_id")
    require(n.customer_id != "", f"{field}.customer_id", "is required", "missing_customer_id")
    require(n.kind != events_pb2.NOTIFICATION_KIND_UNSPECIFIED, f"{field}.kind", "is required", "missing_kind")
    require(n.title != "", f"{field}.title", "is required", "missing_title")
    require(len(n.reasons) > 0, f"{field}.reasons", "every notification explains itself: give a reason",
            "missing_reason")
    for i, reason in enumerate(n.reasons):
        require(reason.code != "" and reason.text != "", f"{field}.reasons[{i}]", "needs a code and a text",
                "invalid_reason")
