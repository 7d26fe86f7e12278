"""Builders for test events (valid by default; override what a test is about)."""

from __future__ import annotations

import time
import uuid

from services.gen.proactivecare.v1 import common_pb2, events_pb2


def transaction(**overrides: object) -> events_pb2.Transaction:
    now = time.time()
    tx = events_pb2.Transaction(
        id=f"tx-{uuid.uuid4().hex[:12]}",
        customer_id="C1",
        account_id="A1",
        card_token="card_000001",
        amount=common_pb2.Money(amount_minor=1250, currency="GBP"),
        direction=events_pb2.DIRECTION_DEBIT,
        channel=events_pb2.CHANNEL_CARD_PRESENT,
        merchant=events_pb2.Merchant(id="M1", name="Corner Shop", mcc="5411", country="GB"),
        terminal_id="T1",
        balance_after=common_pb2.Money(amount_minor=100_000, currency="GBP"),
    )
    tx.timestamp.FromNanoseconds(int(now * 1e9))
    for key, value in overrides.items():
        if isinstance(value, common_pb2.Money | events_pb2.Merchant | events_pb2.Location):
            getattr(tx, key).CopyFrom(value)
        else:
            setattr(tx, key, value)
    return tx


def notification(customer_id: str = "C1", kind: int = events_pb2.NOTIFICATION_KIND_FRAUD_ALERT, **overrides: object,
                 ) -> events_pb2.Notification:
    n = events_pb2.Notification(
        id=f"n-{uuid.uuid4().hex[:12]}", customer_id=customer_id, kind=kind, priority=events_pb2.PRIORITY_HIGH,
        title="Was this you?", body="A payment of £250.00 at a terminal you have never used.",
        reasons=[common_pb2.Reason(code="NEW_TERMINAL", text="at a terminal you have never used")],
        actions=[common_pb2.Action(id="CONFIRM_GENUINE", label="Yes, it was me")],
        source="test", origin_produced_at_ms=int(time.time() * 1000))
    n.created_at.GetCurrentTime()
    for key, value in overrides.items():
        setattr(n, key, value)
    return n
