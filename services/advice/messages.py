"""Conversions between the wire messages and the advice domain: Transaction / CustomerProfile -> facts,
a ranked candidate -> Nudge, a sent nudge -> Notification, a task draft -> AdvisorTask."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from services.advice.facts import ProfileFacts, TxFacts
from services.advice.routing import TaskDraft
from services.advice.rules import Candidate
from services.gen.proactivecare.v1 import advice_pb2, common_pb2, events_pb2
from services.platform import enums

SOURCE = "advice"
_ACTIONS = {
    "PROJECTED_SHORTFALL": (("move_money", "Move money"), ("see_forecast", "See forecast")),
    "SUBSCRIPTION_PRICE_INCREASE": (("review_payment", "Review payment"),),
    "NEW_SUBSCRIPTION": (("review_payment", "Review payment"),),
    "DUPLICATE_CHARGE": (("dispute", "Dispute a charge"), ("it_was_me", "Both were me")),
    "IDLE_CASH": (("open_savings", "Move to savings"),),
}


def tx_facts(tx: events_pb2.Transaction, produced_at_ms: int = 0) -> TxFacts:
    return TxFacts(
        id=tx.id,
        customer_id=tx.customer_id,
        timestamp=tx.timestamp.ToDatetime(tzinfo=UTC),
        amount_minor=tx.amount.amount_minor,
        currency=tx.amount.currency,
        is_credit=tx.direction == events_pb2.DIRECTION_CREDIT,
        channel=enums.short_name(events_pb2.Channel, tx.channel),
        payee_key=tx.counterparty_id or tx.merchant.id,
        payee_name=tx.merchant.name or tx.description,
        mcc=tx.merchant.mcc,
        merchant_country=tx.merchant.country,
        card_token=tx.card_token,
        balance_after_minor=tx.balance_after.amount_minor if tx.HasField("balance_after") else None,
        returned=tx.status == events_pb2.TRANSACTION_STATUS_RETURNED,
        description=tx.description,
        produced_at_ms=produced_at_ms,
        account_id=tx.account_id,
    )


def profile_facts(profile: events_pb2.CustomerProfile) -> ProfileFacts:
    current = next((p for p in profile.products if p.type == events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT), None)
    savings = [p for p in profile.products if p.type == events_pb2.PRODUCT_TYPE_SAVINGS]
    return ProfileFacts(
        customer_id=profile.customer_id,
        segment=profile.segment,
        time_zone=profile.time_zone or "UTC",
        monthly_income_minor=profile.monthly_income.amount_minor,
        payday=profile.payday,
        savings_balance_minor=sum(p.balance.amount_minor for p in savings),
        overdraft_limit_minor=current.overdraft_limit.amount_minor if current else 0,
        currency=profile.monthly_income.currency or (current.balance.currency if current else ""),
        current_account_id=current.id if current else "",
        savings_account_id=savings[0].id if savings else "",
    )


def nudge_id(customer_id: str, candidate: Candidate, trigger_tx_id: str) -> str:
    """Derived from its source: the same transaction re-evaluated yields the same id."""
    digest = hashlib.sha256(f"{customer_id}|{candidate.type}|{candidate.subject}|{trigger_tx_id}".encode())
    return "nudge-" + digest.hexdigest()[:24]


def to_nudge(nid: str, customer_id: str, candidate: Candidate, created_at: datetime, score: float,
             sent: bool) -> advice_pb2.Nudge:
    nudge = advice_pb2.Nudge(
        id=nid, customer_id=customer_id, type=candidate.type, title=candidate.title, body=candidate.body,
        reasons=[r.to_proto() for r in candidate.reasons],
        data=candidate.data, rank_score=round(score, 6), sent=sent,
    )
    nudge.created_at.FromDatetime(created_at)
    return nudge


def to_notification(nudge: advice_pb2.Nudge, priority: str, origin_produced_at_ms: int) -> events_pb2.Notification:
    notification = events_pb2.Notification(
        id=f"{SOURCE}:{nudge.id}", customer_id=nudge.customer_id, kind=events_pb2.NOTIFICATION_KIND_NUDGE,
        priority=enums.value_of(events_pb2.Priority, priority), title=nudge.title, body=nudge.body,
        reasons=nudge.reasons, source=SOURCE, source_id=nudge.id, origin_produced_at_ms=origin_produced_at_ms,
        data={**nudge.data, "nudge_type": nudge.type},
        actions=[common_pb2.Action(id=a, label=label) for a, label in _ACTIONS.get(nudge.type, ())]
        + [common_pb2.Action(id="helpful", label="Helpful"), common_pb2.Action(id="not_helpful", label="Not helpful")],
    )
    notification.created_at.CopyFrom(nudge.created_at)
    return notification


def to_advisor_task(draft: TaskDraft) -> events_pb2.AdvisorTask:
    task = events_pb2.AdvisorTask(
        id=draft.id, customer_id=draft.customer_id, queue=draft.queue, kind=draft.kind,
        value=common_pb2.Money(amount_minor=draft.value_minor, currency=draft.currency), urgency=draft.urgency,
        reasons=[r.to_proto() for r in draft.reasons],
        summary=draft.summary, source=SOURCE,
    )
    task.sla_deadline.FromDatetime(draft.sla_deadline)
    task.created_at.FromDatetime(draft.created_at)
    return task
