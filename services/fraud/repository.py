"""Fraud state in the store: alerts, frozen cards, and the feature engine's persisted per-key state.

`FraudRepository(tx)` is bound to one transaction of the caller's. An alert is stored once (its id derives from
the transaction id: ON CONFLICT DO NOTHING, so only the first insert notifies); an answer changes an open
alert once (a conditional UPDATE on its status); a card is frozen once. Instants are UTC (timestamptz on
PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Float, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text
from sqlalchemy.engine import Row

from services.fraud.alerts import AlertRecord, AlertStatus
from services.platform.storage import Migration, Tx, as_utc, create_tables, instant

_METADATA = MetaData()
Table("fraud_alerts", _METADATA,
      Column("id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("transaction_id", String, nullable=False),
      Column("card_token", String, nullable=False),
      Column("terminal_id", String, nullable=False),
      Column("merchant_id", String, nullable=False),
      Column("merchant_name", String, nullable=False),
      Column("mcc", String, nullable=False),
      Column("amount_minor", Integer, nullable=False),
      Column("currency", String, nullable=False),
      Column("score", Float, nullable=False),
      Column("decision", Integer, nullable=False),
      Column("reasons", Text, nullable=False),
      Column("status", Integer, nullable=False),
      instant("created_at"),
      instant("resolved_at", nullable=True),
      Column("card_frozen", Integer, nullable=False),
      instant("transaction_time"),
      Index("fraud_alerts_by_customer", "customer_id", "created_at"))
Table("fraud_frozen_cards", _METADATA,
      Column("card_token", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("alert_id", String, nullable=False),
      instant("frozen_at"))
Table("fraud_feature_state", _METADATA,
      Column("kind", String, nullable=False),
      Column("key", String, nullable=False),
      Column("state", Text, nullable=False),
      PrimaryKeyConstraint("kind", "key"), sqlite_with_rowid=False)
MIGRATIONS = [Migration("fraud/0001_alerts_cards_features", create_tables(_METADATA))]

_COLUMNS = ("id", "customer_id", "transaction_id", "card_token", "terminal_id", "merchant_id", "merchant_name",
            "mcc", "amount_minor", "currency", "score", "decision", "reasons", "status", "created_at",
            "resolved_at", "card_frozen", "transaction_time")
_SELECT = f"SELECT {','.join(_COLUMNS)} FROM fraud_alerts"


class FraudRepository:
    """Fraud's tables as seen from one open transaction `tx`."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # ---- alerts -------------------------------------------------------------------------------------------
    def add_alert(self, alert: AlertRecord) -> bool:
        """Insert unless an alert with this id exists; True when inserted (so notify only then)."""
        sql = (f"INSERT INTO fraud_alerts({','.join(_COLUMNS)}) VALUES ({','.join(':' + c for c in _COLUMNS)})"
               " ON CONFLICT DO NOTHING")
        return self.tx.execute(sql, _to_row(alert)).rowcount == 1

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        row = self.tx.one(f"{_SELECT} WHERE id = :id", {"id": alert_id})
        return _from_row(row) if row else None

    def update_alert(self, alert: AlertRecord) -> bool:
        """Record an answer: changes the alert only while its status differs (True when it changed)."""
        return self.tx.execute(
            "UPDATE fraud_alerts SET status = :status, resolved_at = :resolved_at, card_frozen = :card_frozen"
            " WHERE id = :id AND status != :status",
            {"status": int(alert.status), "resolved_at": alert.resolved_at, "card_frozen": int(alert.card_frozen),
             "id": alert.id}).rowcount == 1

    def list_alerts(self, customer_id: str, offset: int, limit: int, open_only: bool) -> list[AlertRecord]:
        sql = f"{_SELECT} WHERE customer_id = :customer_id"
        if open_only:
            sql += f" AND status = {int(AlertStatus.OPEN)}"
        sql += " ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset"
        return [_from_row(r) for r in self.tx.all(sql, {"customer_id": customer_id, "limit": limit,
                                                        "offset": offset})]

    # ---- cards --------------------------------------------------------------------------------------------
    def freeze_card(self, card_token: str, customer_id: str, alert_id: str, now: datetime) -> None:
        if card_token:
            self.tx.execute("INSERT INTO fraud_frozen_cards(card_token, customer_id, alert_id, frozen_at)"
                            " VALUES (:card_token, :customer_id, :alert_id, :now) ON CONFLICT DO NOTHING",
                            {"card_token": card_token, "customer_id": customer_id, "alert_id": alert_id,
                             "now": now})

    def unfreeze_card(self, card_token: str, customer_id: str) -> bool:
        """Lift the freeze of a card of this customer; False when the customer has no such frozen card."""
        return self.tx.execute("DELETE FROM fraud_frozen_cards WHERE card_token = :card_token"
                               " AND customer_id = :customer_id",
                               {"card_token": card_token, "customer_id": customer_id}).rowcount > 0

    def frozen_among(self, card_tokens: Iterable[str]) -> set[str]:
        tokens = sorted({t for t in card_tokens if t})
        frozen: set[str] = set()
        for start in range(0, len(tokens), 500):
            chunk = tokens[start:start + 500]
            marks = ",".join(f":t{i}" for i in range(len(chunk)))
            rows = self.tx.all(f"SELECT card_token FROM fraud_frozen_cards WHERE card_token IN ({marks})",
                               {f"t{i}": t for i, t in enumerate(chunk)})
            frozen.update(r[0] for r in rows)
        return frozen

    # ---- feature state ------------------------------------------------------------------------------------
    def save_feature_state(self, entries: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Upsert in (kind, key) order: replicas sharing terminal/merchant rows lock them in the same order, so
        two batches never deadlock on PostgreSQL."""
        params = [{"kind": kind, "key": key, "state": json.dumps(state, separators=(",", ":"))}
                  for kind, key, state in sorted(entries, key=lambda e: (e[0], e[1]))]
        if params:
            self.tx.execute("INSERT INTO fraud_feature_state(kind, key, state) VALUES (:kind, :key, :state)"
                            " ON CONFLICT (kind, key) DO UPDATE SET state = excluded.state", params)

    def load_feature_state(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for row in self.tx.execute("SELECT kind, key, state FROM fraud_feature_state"):
            yield row[0], row[1], json.loads(row[2])


def _to_row(a: AlertRecord) -> dict[str, Any]:
    return {"id": a.id, "customer_id": a.customer_id, "transaction_id": a.transaction_id,
            "card_token": a.card_token, "terminal_id": a.terminal_id, "merchant_id": a.merchant_id,
            "merchant_name": a.merchant_name, "mcc": a.mcc, "amount_minor": a.amount_minor, "currency": a.currency,
            "score": a.score, "decision": a.decision, "reasons": json.dumps(a.reasons), "status": int(a.status),
            "created_at": a.created_at, "resolved_at": a.resolved_at, "card_frozen": int(a.card_frozen),
            "transaction_time": a.transaction_time}


def _from_row(r: Row[Any]) -> AlertRecord:
    (id_, customer_id, transaction_id, card_token, terminal_id, merchant_id, merchant_name, mcc, amount_minor,
     currency, score, decision, reasons, status, created_at, resolved_at, card_frozen, transaction_time) = tuple(r)
    return AlertRecord(
        id=id_, customer_id=customer_id, transaction_id=transaction_id, card_token=card_token,
        terminal_id=terminal_id, merchant_id=merchant_id, mcc=mcc, amount_minor=int(amount_minor),
        currency=currency, score=float(score), decision=int(decision),
        reasons=[(c, t, float(w)) for c, t, w in json.loads(reasons)], status=AlertStatus(int(status)),
        created_at=as_utc(created_at), resolved_at=as_utc(resolved_at),  # type: ignore[arg-type]
        card_frozen=bool(card_frozen), transaction_time=as_utc(transaction_time),  # type: ignore[arg-type]
        merchant_name=merchant_name)
