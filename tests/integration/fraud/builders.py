"""Card transactions for the fraud integration tests."""

from __future__ import annotations

import time

from services.gen.proactivecare.v1 import common_pb2, events_pb2

DAY = 86400


def card_payment(tx_id: str, customer: str, amount_minor: int, terminal: str, ts: float | None = None,
                 **overrides: object) -> events_pb2.Transaction:
    tx = events_pb2.Transaction(
        id=tx_id, customer_id=customer, account_id=f"acc-{customer}", card_token=f"card-{customer}",
        amount=common_pb2.Money(amount_minor=amount_minor, currency="EUR"), direction=events_pb2.DEBIT,
        channel=events_pb2.CARD_PRESENT, terminal_id=terminal,
        merchant=events_pb2.Merchant(id=f"m-{terminal}", name=f"Shop {terminal}", mcc="5411", country="FR"))
    tx.timestamp.FromNanoseconds(int((ts if ts is not None else time.time()) * 1e9))
    for key, value in overrides.items():
        if isinstance(value, common_pb2.Money | events_pb2.Merchant | events_pb2.Location):
            getattr(tx, key).CopyFrom(value)
        else:
            setattr(tx, key, value)
    return tx


def usual_history(customer: str, now: float, n: int = 20, amount_minor: int = 3000) -> list[events_pb2.Transaction]:
    """Ten days of ordinary payments at three home terminals."""
    return [card_payment(f"{customer}-h{i}", customer, amount_minor + 100 * (i % 5), f"T-{customer}-{i % 3}",
                         now - 10 * DAY + i * DAY / 2) for i in range(n)]
