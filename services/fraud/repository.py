"""Fraud state in the store: alerts, frozen cards, and the feature engine's persisted per-key state."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from services.fraud.alerts import AlertRecord, AlertStatus
from services.platform.storage import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS fraud_alerts (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    card_token TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    merchant_name TEXT NOT NULL,
    mcc TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    score REAL NOT NULL,
    decision INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    status INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    resolved_at TEXT,
    card_frozen INTEGER NOT NULL,
    transaction_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fraud_alerts_by_customer ON fraud_alerts(customer_id, created_at);
CREATE TABLE IF NOT EXISTS fraud_frozen_cards (
    card_token TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    frozen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fraud_feature_state (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""

_COLUMNS = ("id", "customer_id", "transaction_id", "card_token", "terminal_id", "merchant_id", "merchant_name",
            "mcc", "amount_minor", "currency", "score", "decision", "reasons", "status", "created_at",
            "resolved_at", "card_frozen", "transaction_time")


class FraudRepository:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("fraud/0001_alerts_cards_features", SCHEMA)

    # ---- alerts -------------------------------------------------------------------------------------------
    def add_alert(self, tx: sqlite3.Connection, alert: AlertRecord) -> bool:
        """Insert unless an alert with this id exists; True when inserted (so notify only then)."""
        row = _to_row(alert)
        sql = (f"INSERT OR IGNORE INTO fraud_alerts({','.join(_COLUMNS)}) "
               f"VALUES ({','.join('?' * len(_COLUMNS))})")
        return tx.execute(sql, row).rowcount == 1

    def get_alert(self, alert_id: str, tx: sqlite3.Connection | None = None) -> AlertRecord | None:
        conn = tx or self.store.connection()
        row = conn.execute(f"SELECT {','.join(_COLUMNS)} FROM fraud_alerts WHERE id = ?", (alert_id,)).fetchone()
        return _from_row(row) if row else None

    def update_alert(self, tx: sqlite3.Connection, alert: AlertRecord) -> None:
        tx.execute("UPDATE fraud_alerts SET status = ?, resolved_at = ?, card_frozen = ? WHERE id = ?",
                   (int(alert.status), _iso(alert.resolved_at), int(alert.card_frozen), alert.id))

    def list_alerts(self, customer_id: str, offset: int, limit: int, open_only: bool) -> list[AlertRecord]:
        sql = f"SELECT {','.join(_COLUMNS)} FROM fraud_alerts WHERE customer_id = ?"
        if open_only:
            sql += f" AND status = {int(AlertStatus.OPEN)}"
        sql += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        return [_from_row(r) for r in self.store.query(sql, (customer_id, limit, offset))]

    # ---- cards --------------------------------------------------------------------------------------------
    def freeze_card(self, tx: sqlite3.Connection, card_token: str, customer_id: str, alert_id: str,
                    now: datetime) -> None:
        if card_token:
            tx.execute("INSERT OR IGNORE INTO fraud_frozen_cards VALUES (?, ?, ?, ?)",
                       (card_token, customer_id, alert_id, _iso(now)))

    def frozen_among(self, card_tokens: Iterable[str], tx: sqlite3.Connection | None = None) -> set[str]:
        tokens = sorted({t for t in card_tokens if t})
        conn = tx or self.store.connection()
        frozen: set[str] = set()
        for start in range(0, len(tokens), 500):
            chunk = tokens[start:start + 500]
            rows = conn.execute(f"SELECT card_token FROM fraud_frozen_cards WHERE card_token IN "
                                f"({','.join('?' * len(chunk))})", chunk).fetchall()
            frozen.update(r[0] for r in rows)
        return frozen

    # ---- feature state ------------------------------------------------------------------------------------
    def save_feature_state(self, tx: sqlite3.Connection, entries: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        tx.executemany("INSERT OR REPLACE INTO fraud_feature_state(kind, key, state) VALUES (?, ?, ?)",
                       [(kind, key, json.dumps(state, separators=(",", ":"))) for kind, key, state in entries])

    def load_feature_state(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for row in self.store.query("SELECT kind, key, state FROM fraud_feature_state"):
            yield row[0], row[1], json.loads(row[2])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _to_row(a: AlertRecord) -> tuple[Any, ...]:
    return (a.id, a.customer_id, a.transaction_id, a.card_token, a.terminal_id, a.merchant_id, a.merchant_name,
            a.mcc, a.amount_minor, a.currency, a.score, a.decision, json.dumps(a.reasons), int(a.status),
            _iso(a.created_at), _iso(a.resolved_at), int(a.card_frozen), _iso(a.transaction_time))


def _from_row(r: sqlite3.Row | tuple[Any, ...]) -> AlertRecord:
    (id_, customer_id, transaction_id, card_token, terminal_id, merchant_id, merchant_name, mcc, amount_minor,
     currency, score, decision, reasons, status, created_at, resolved_at, card_frozen, transaction_time) = tuple(r)
    return AlertRecord(
        id=id_, customer_id=customer_id, transaction_id=transaction_id, card_token=card_token,
        terminal_id=terminal_id, merchant_id=merchant_id, mcc=mcc, amount_minor=int(amount_minor),
        currency=currency, score=float(score), decision=int(decision),
        reasons=[(c, t, float(w)) for c, t, w in json.loads(reasons)], status=AlertStatus(int(status)),
        created_at=datetime.fromisoformat(created_at),
        resolved_at=datetime.fromisoformat(resolved_at) if resolved_at else None,
        card_frozen=bool(card_frozen), transaction_time=datetime.fromisoformat(transaction_time),
        merchant_name=merchant_name)
