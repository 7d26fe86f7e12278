"""Pure validators for the events every service consumes. Each failure names the field and a reason code."""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.message import Message

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.platform.errors import ValidationError
from services.platform.money import CURRENCY_EXPONENTS, is_currency
from services.platform.pan import contains_pan

MAX_AMOUNT_MINOR = 10**13  # a hundred billion in major units: anything above is a corrupt record


MAX_ID_LENGTH = 128


def require(condition: bool, field: str, message: str, reason: str = "invalid") -> None:
    if not condition:
        raise ValidationError(field, message, reason)


def require_id(value: str, field: str, max_length: int = MAX_ID_LENGTH) -> None:
    """The one rule for every identifier a caller or a producer gives (customer, transaction, card token, alert,
    nudge, task ...): present, at most `max_length` characters, no control characters. Reasons name the field's
    last part: `missing_customer_id`, `invalid_customer_id`."""
    if value and len(value) <= max_length and value.isprintable():
        return  # the common case, checked without building a message
    leaf = field.rpartition(".")[2].partition("[")[0]
    require(value != "", field, "is required", f"missing_{leaf}")
    require(len(value) <= max_length, field, f"is longer than {max_length} characters", f"invalid_{leaf}")
    require(value.isprintable(), field, "must not hold control characters", f"invalid_{leaf}")


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
    """A transaction any service can act on. Raises ValidationError naming the first bad field.

    Every record of the main stream passes here: a valid one is recognised in one expression (2.5 us instead of
    5); anything else is judged field by field, which names what is wrong."""
    tid, cid, amount = tx.id, tx.customer_id, tx.amount
    if (tid and cid and len(tid) <= MAX_ID_LENGTH and len(cid) <= MAX_ID_LENGTH and tid.isprintable()
            and cid.isprintable() and tx.timestamp.seconds > 0 and tx.direction and tx.channel
            and len(tx.card_token) < 13 and tx.HasField("amount") and amount.currency in CURRENCY_EXPONENTS
            and 0 <= amount.amount_minor <= MAX_AMOUNT_MINOR):
        if not tx.HasField("balance_after"):
            return
        balance = tx.balance_after
        if balance.currency == amount.currency and abs(balance.amount_minor) <= MAX_AMOUNT_MINOR:
            return
    _validate_transaction_by_field(tx, field)


_ID, _CUSTOMER_ID, _CARD_TOKEN = (operator.attrgetter(f) for f in ("id", "customer_id", "card_token"))
_SECONDS, _DIRECTION, _CHANNEL = (operator.attrgetter(f) for f in ("timestamp.seconds", "direction", "channel"))
_AMOUNT, _BALANCE = operator.attrgetter("amount"), operator.attrgetter("balance_after")
_CURRENCY, _MINOR = operator.attrgetter("currency"), operator.attrgetter("amount_minor")
_HAS_BALANCE = operator.methodcaller("HasField", "balance_after")
_CURRENCIES = frozenset(CURRENCY_EXPONENTS)


def transactions_valid(txs: Sequence[events_pb2.Transaction]) -> bool:
    """Whether every transaction of `txs` (e.g. a poll batch) passes `validate_transaction`, judged a field at a
    time over the whole batch in C-level passes (each sub-message read once). False means at least one may not:
    the caller then validates record by record, which names the field.

    The rules of `validate_transaction`'s one expression (a card token as long as a card number is left to the
    record-by-record Luhn check): an unset `amount` reads currency "" (no currency); an unset `balance_after` is
    told from a set one only where its currency differs from the amount's. Both are kept in step by the table of
    bad transactions in tests/unit/platform/test_kernel.py (one record through this costs about three times the
    one expression, so the single-record path keeps its own)."""
    if not txs:
        return True
    ids, customer_ids = list(map(_ID, txs)), list(map(_CUSTOMER_ID, txs))
    amounts, balances = list(map(_AMOUNT, txs)), list(map(_BALANCE, txs))
    currencies, minors = list(map(_CURRENCY, amounts)), list(map(_MINOR, amounts))
    if not (all(ids) and all(customer_ids) and max(map(len, ids)) <= MAX_ID_LENGTH
            and max(map(len, customer_ids)) <= MAX_ID_LENGTH and "".join(ids).isprintable()
            and "".join(customer_ids).isprintable() and min(map(_SECONDS, txs)) > 0 and all(map(_DIRECTION, txs))
            and all(map(_CHANNEL, txs)) and max(map(len, map(_CARD_TOKEN, txs))) < 13
            and _CURRENCIES.issuperset(currencies) and min(minors) >= 0 and max(minors) <= MAX_AMOUNT_MINOR
            and max(map(abs, map(_MINOR, balances))) <= MAX_AMOUNT_MINOR):
        return False
    balance_currencies = list(map(_CURRENCY, balances))
    if balance_currencies == currencies:
        return True
    has_balance = list(map(_HAS_BALANCE, txs))
    return list(itertools.compress(balance_currencies, has_balance)) == list(itertools.compress(currencies,
                                                                                              has_balance))


def _validate_transaction_by_field(tx: events_pb2.Transaction, field: str) -> None:
    require_id(tx.id, f"{field}.id")
    require_id(tx.customer_id, f"{field}.customer_id")
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
    if len(tx.card_token) >= 13 and contains_pan(tx.card_token):
        raise ValidationError(f"{field}.card_token", "looks like a card number: send a token, never a PAN",
                              "pan_detected")


def _money_suspect(money: common_pb2.Money, allow_negative: bool = False) -> bool:
    """Cheap pre-check; the full validator names the problem when there is one."""
    return (money.currency not in CURRENCY_EXPONENTS or (money.amount_minor < 0 and not allow_negative)
            or abs(money.amount_minor) > MAX_AMOUNT_MINOR)


def validate_customer_profile(p: events_pb2.CustomerProfile, field: str = "profile") -> None:
    require_id(p.customer_id, f"{field}.customer_id")
    require(not p.time_zone or is_time_zone(p.time_zone), f"{field}.time_zone", "is not a known IANA time zone",
            "unknown_time_zone")
    for i, product in enumerate(p.products):
        if product.type == events_pb2.PRODUCT_TYPE_MORTGAGE:
            m = product.mortgage
            validate_money(m.balance, f"{field}.products[{i}].mortgage.balance")
            require(m.remaining_term_months >= 0, f"{field}.products[{i}].mortgage.remaining_term_months",
                    "must not be negative", "invalid_term")


def validate_notification(n: events_pb2.Notification, field: str = "notification") -> None:
    """What the notification gateway accepts (producers may call it before sending)."""
    require_id(n.id, f"{field}.id")
    require_id(n.customer_id, f"{field}.customer_id")
    require(n.kind != events_pb2.NOTIFICATION_KIND_UNSPECIFIED, f"{field}.kind", "is required", "missing_kind")
    require(n.title != "", f"{field}.title", "is required", "missing_title")
    require(len(n.reasons) > 0, f"{field}.reasons", "every notification explains itself: give a reason",
            "missing_reason")
    for i, reason in enumerate(n.reasons):
        require(reason.code != "" and reason.text != "", f"{field}.reasons[{i}]", "needs a code and a text",
                "invalid_reason")


# the fields that date an event (a deadline, e.g. an advisor task's SLA, is not one)
EVENT_TIME_FIELDS = ("timestamp", "updated_at", "created_at", "answered_at", "transaction_time")


def validate_event_time(event: Message, now: float, *, future_skew_seconds: float, floor: float) -> None:
    """An event dated beyond the allowed clock skew into the future, or before the floor, would move time-based
    state (windows, clocks, labels) to where no real event can follow: refuse it, naming the field."""
    for name in _event_time_fields(event.DESCRIPTOR):
        if not event.HasField(name):
            continue
        seconds = getattr(event, name).seconds
        if seconds > now + future_skew_seconds:
            raise ValidationError(name, f"is more than {future_skew_seconds:g} s in the future", "future_event_time")
        if seconds < floor:
            raise ValidationError(name, "is before the earliest accepted event time", "event_time_before_floor")


def event_times_within(events: Sequence[Message], now: float, *, future_skew_seconds: float, floor: float) -> bool:
    """Whether every event-time field of `events` (messages of one type, e.g. a partition's batch) lies within the
    bounds `validate_event_time` sets: one C-level pass per field instead of a call per record. A field left
    unset reads 0 and fails here: False sends the caller to `validate_event_time` record by record."""
    if not events:
        return True
    horizon = now + future_skew_seconds
    for name in _event_time_fields(events[0].DESCRIPTOR):
        seconds = list(map(_seconds_of(name), events))
        if min(seconds) < floor or max(seconds) > horizon:
            return False
    return True


@functools.lru_cache(maxsize=64)
def _seconds_of(name: str) -> Callable[[Message], int]:
    return operator.attrgetter(f"{name}.seconds")


@functools.lru_cache(maxsize=256)
def _event_time_fields(descriptor: Any) -> tuple[str, ...]:
    """The message type's event-time fields (looked up once per type, not per record)."""
    fields = descriptor.fields_by_name
    return tuple(name for name in EVENT_TIME_FIELDS if name in fields and fields[name].message_type is not None)


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def is_time_zone(name: str) -> bool:
    """Whether `name` is a known IANA time zone (e.g. Europe/London)."""
    return _zone(name) is not None


def time_zone_or(name: str, default: str) -> ZoneInfo:
    """The zone `name`, or `default` when it is unknown: a bad stored zone must never stop an urgent alert."""
    return _zone(name) or ZoneInfo(default)
