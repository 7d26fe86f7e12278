"""Conversions between the protobuf messages and the fraud domain's values."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from services.fraud.alerts import AlertRecord, AlertStatus
from services.fraud.decision import FraudDecision
from services.fraud.events import Label, TxEvent
from services.fraud.explain import summary
from services.gen.proactivecare.v1 import common_pb2, events_pb2, fraud_pb2
from services.platform import enums
from services.platform.errors import ValidationError
from services.platform.money import CURRENCY_EXPONENTS, format_money
from services.platform.validation import require, require_id, validate_transaction

ACTION_GENUINE = common_pb2.Action(id="fraud.genuine", label="Yes, it was me")
ACTION_FRAUD = common_pb2.Action(id="fraud.freeze", label="No, freeze my card")
COORDINATE_LIMIT_KM = 100_000.0


CHANNEL_NAMES: dict[int, str] = {n: enums.short_name(events_pb2.Channel, n) for n in events_pb2.Channel.values()}


def alert_id_for(tx_id: str) -> str:
    """One alert per transaction, whoever raises it and however often the transaction is redelivered."""
    return f"fa-{tx_id}"


def is_card_debit(tx: events_pb2.Transaction, scored_channels: frozenset[str]) -> bool:
    return (tx.direction == events_pb2.DIRECTION_DEBIT and CHANNEL_NAMES.get(tx.channel) in scored_channels
            and tx.status != events_pb2.TRANSACTION_STATUS_RETURNED)  # unset reads as booked


def validate_scorable(tx: events_pb2.Transaction, scored_channels: frozenset[str],
                      field: str = "transaction") -> None:
    """What ScoreTransaction needs beyond a valid transaction: a card debit at a terminal or merchant."""
    validate_transaction(tx, field)
    require(tx.direction == events_pb2.DIRECTION_DEBIT, f"{field}.direction", "only card debits are scored")
    channel = CHANNEL_NAMES.get(tx.channel, "?")
    require(channel in scored_channels, f"{field}.channel",
            f"must be one of {', '.join(sorted(scored_channels))}")
    require(tx.terminal_id != "" or tx.merchant.id != "", f"{field}.terminal_id",
            "a terminal id or a merchant id is required")
    require(len(tx.terminal_id) <= 128, f"{field}.terminal_id", "is longer than 128 characters")
    if tx.merchant.mcc:
        require(len(tx.merchant.mcc) == 4 and tx.merchant.mcc.isdigit(), f"{field}.merchant.mcc",
                "must be 4 digits (ISO 18245)")
    if tx.HasField("location"):
        for axis in ("x_km", "y_km"):
            value = getattr(tx.location, axis)
            require(math.isfinite(value) and abs(value) <= COORDINATE_LIMIT_KM, f"{field}.location.{axis}",
                    "must be a finite distance")


def to_event(tx: events_pb2.Transaction) -> TxEvent:
    amount, merchant, ts = tx.amount, tx.merchant, tx.timestamp  # one message view each (the hot path)
    exponent = CURRENCY_EXPONENTS.get(amount.currency)
    if exponent is None:
        raise ValidationError("transaction.amount.currency", f"unknown currency {amount.currency!r}")
    location = tx.location if tx.HasField("location") else None
    return TxEvent(
        tx_id=tx.id, customer_id=tx.customer_id, terminal_id=tx.terminal_id or f"merchant:{merchant.id}",
        ts=ts.seconds + ts.nanos / 1e9, amount_minor=amount.amount_minor,
        currency=amount.currency, amount=amount.amount_minor / 10**exponent,
        merchant_id=merchant.id, mcc=merchant.mcc,
        x_km=location.x_km if location is not None else math.nan,
        y_km=location.y_km if location is not None else math.nan,
        card_token=tx.card_token,
    )


def reasons_pb(decision: FraudDecision) -> list[common_pb2.Reason]:
    return [r.to_proto() for r in decision.reasons]


def score_response(decision: FraudDecision) -> fraud_pb2.ScoreTransactionResponse:
    return fraud_pb2.ScoreTransactionResponse(
        transaction_id=decision.tx_id, score=decision.score, decision=int(decision.verdict),
        reasons=reasons_pb(decision), model_version=decision.model_version)


def new_alert(tx: events_pb2.Transaction, event: TxEvent, decision: FraudDecision, now: datetime) -> AlertRecord:
    return AlertRecord(
        id=alert_id_for(tx.id), customer_id=tx.customer_id, transaction_id=tx.id, card_token=tx.card_token,
        terminal_id=event.terminal_id, merchant_id=tx.merchant.id, mcc=tx.merchant.mcc,
        amount_minor=tx.amount.amount_minor, currency=tx.amount.currency, score=decision.score,
        decision=int(decision.verdict), reasons=[(r.code, r.text, r.weight) for r in decision.reasons],
        status=AlertStatus.OPEN, created_at=now, resolved_at=None, card_frozen=False,
        transaction_time=datetime.fromtimestamp(event.ts, UTC), merchant_name=tx.merchant.name)


def alert_pb(alert: AlertRecord) -> fraud_pb2.Alert:
    msg = fraud_pb2.Alert(
        id=alert.id, customer_id=alert.customer_id, transaction_id=alert.transaction_id,
        card_token=alert.card_token, terminal_id=alert.terminal_id, merchant_id=alert.merchant_id,
        amount=common_pb2.Money(amount_minor=alert.amount_minor, currency=alert.currency), score=alert.score,
        decision=alert.decision, status=int(alert.status), card_frozen=alert.card_frozen,
        reasons=[common_pb2.Reason(code=c, text=t, weight=w) for c, t, w in alert.reasons],
        created_at=_ts(alert.created_at), transaction_time=_ts(alert.transaction_time))
    if alert.resolved_at is not None:
        msg.resolved_at.CopyFrom(_ts(alert.resolved_at))
    return msg


def notification(alert: AlertRecord, decision: FraudDecision, origin_produced_at_ms: int) -> events_pb2.Notification:
    amount = format_money(alert.amount_minor, alert.currency)
    where = f" at {alert.merchant_name}" if alert.merchant_name else ""
    blocked = decision.verdict == fraud_pb2.DECISION_BLOCK
    title = "We stopped a card payment: was it you?" if blocked else "Was this card payment you?"
    why = summary(decision.reasons)
    body = f"{amount}{where}. It stood out: {why}." if why else f"{amount}{where}."
    return events_pb2.Notification(
        id=f"fraud:{alert.id}", customer_id=alert.customer_id, kind=events_pb2.NOTIFICATION_KIND_FRAUD_ALERT,
        priority=events_pb2.PRIORITY_URGENT if blocked else events_pb2.PRIORITY_HIGH, title=title, body=body,
        reasons=reasons_pb(decision), actions=[ACTION_GENUINE, ACTION_FRAUD], created_at=_ts(alert.created_at),
        source="fraud", source_id=alert.id, origin_produced_at_ms=origin_produced_at_ms,
        data={"alert_id": alert.id, "transaction_id": alert.transaction_id, "amount_minor": str(alert.amount_minor),
              "currency": alert.currency, "decision": enums.short_name(fraud_pb2.Decision, alert.decision),
              "score": f"{alert.score:.4f}"})


def feedback_pb(alert: AlertRecord, answered_at: datetime) -> events_pb2.FraudFeedback:
    return events_pb2.FraudFeedback(
        alert_id=alert.id, transaction_id=alert.transaction_id, customer_id=alert.customer_id,
        card_token=alert.card_token, terminal_id=alert.terminal_id, merchant_id=alert.merchant_id,
        confirmed_fraud=alert.status == AlertStatus.CONFIRMED_FRAUD, answered_at=_ts(answered_at),
        transaction_time=_ts(alert.transaction_time))


def validate_feedback(fb: events_pb2.FraudFeedback) -> None:
    require_id(fb.transaction_id, "transaction_id")
    require_id(fb.customer_id, "customer_id")
    require(fb.terminal_id != "" or fb.merchant_id != "", "terminal_id", "a terminal or merchant id is required")
    require(fb.HasField("transaction_time"), "transaction_time", "is required")


def label_from_feedback(fb: events_pb2.FraudFeedback, mcc: str = "") -> Label:
    """A label known at once: the customer answered (or disputed a payment)."""
    tx_ts = fb.transaction_time.seconds + fb.transaction_time.nanos / 1e9
    return Label(tx_id=fb.transaction_id, customer_id=fb.customer_id,
                 terminal_id=fb.terminal_id or f"merchant:{fb.merchant_id}", merchant_id=fb.merchant_id, mcc=mcc,
                 tx_ts=tx_ts, fraud=fb.confirmed_fraud, known_at=-math.inf)


def label_from_alert(alert: AlertRecord) -> Label:
    return Label(tx_id=alert.transaction_id, customer_id=alert.customer_id, terminal_id=alert.terminal_id,
                 merchant_id=alert.merchant_id, mcc=alert.mcc, tx_ts=alert.transaction_time.timestamp(),
                 fraud=alert.status == AlertStatus.CONFIRMED_FRAUD, known_at=-math.inf)


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts
