"""Pure validators for the events every service consumes. Each failure names the field and a reason code."""

from __future__ import annotations

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.platform.errors import ValidationError
from services.platform.money import CURRENCY_EXPONENTS, is_currency

MAX_AMOUNT_MINOR = 10**13  # a hundred billion in major units: anything above is a corrupt record


def require(condition: bool, field: str, message: str, reason: str = "invalid") -> None:
    if not condition:
        raise ValidationError(field, message, reason)


def validate_money(money: common_pb2.Money, field: str, *, allow_negative: bool = False) -> None:
    # Checks first, messages only on failure: this runs for every record of every stream.
    if not money.currency:
        raise ValidationError(f"{field}.currency", "is required", "missing_currency")
    if not is_currency(money.currency):
        raise ValidationError(f"{field}.currency", f"unknown ISO 4217 currency {money.currency!r}",
                              "unknown_currency")
    if money.amount_minor < 0 and not allow_negative:
        raise ValidationError(f"{field}.amount_minor", "must not be negative (the direction gives the sign)",
                              "negative_amount")
    if abs(money.amount_minor) > MAX_AMOUNT_MINOR:
        raise ValidationError(f"{field}.amount_minor", "is out of range", "amount_out_of_range")


def validate_transaction(tx: events_pb2.Transaction, field: str = "transaction") -> None:
    """A transaction any service can act on. Raises ValidationError naming the first bad field."""
    if not tx.id:
        raise ValidationError(f"{field}.id", "is required", "missing_id")
    if len(tx.id) > 128:
        raise ValidationError(f"{field}.id", "is longer than 128 characters", "invalid_id")
    if not tx.customer_id:
        raise ValidationError(f"{field}.customer_id", "is required", "missing_customer_id")
    if tx.timestamp.seconds <= 0:
        raise ValidationError(f"{field}.timestamp", "is required", "missing_timestamp")
    if not tx.HasField("amount"):
        raise ValidationError(f"{field}.amount", "is required", "missing_amount")
    if _money_suspect(tx.amount):
        validate_money(tx.amount, f"{field}.amount")
    if tx.direction == events_pb2.DIRECTION_UNSPECIFIED:
        raise ValidationError(f"{field}.direction", "must be DEBIT or CREDIT", "missing_direction")
    if tx.channel == events_pb2.CHANNEL_UNSPECIFIED:
        raise ValidationError(f"{field}.channel", "is required", "missing_channel")
    if tx.HasField("balance_after"):
        if _money_suspect(tx.balance_after, allow_negative=True):
            validate_money(tx.balance_after, f"{field}.balance_after", allow_negative=True)
        if tx.balance_after.currency != tx.amount.currency:
            raise ValidationError(f"{field}.balance_after.currency", "differs from the amount's currency",
                                  "currency_mismatch")
    if len(tx.card_token) >= 13 and _looks_like_pan(tx.card_token):
        raise ValidationError(f"{field}.card_token", "looks like a card number: send a token, never a PAN",
                              "pan_detected")


def _money_suspect(money: common_pb2.Money, allow_negative: bool = False) -> bool:
    """Cheap pre-check; the full validator names the problem when there is one."""
    return (money.currency not in CURRENCY_EXPONENTS or (money.amount_minor < 0 and not allow_negative)
            or abs(money.amount_minor) > MAX_AMOUNT_MINOR)


def validate_customer_profile(p: events_pb2.CustomerProfile, field: str = "profile") -> None:
    require(p.customer_id != "", f"{field}.customer_id", "is required", "missing_customer_id")
    for i, product in enumerate(p.products):
        if product.type == events_pb2.PRODUCT_TYPE_MORTGAGE:
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
