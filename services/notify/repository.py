"""The gateway's tables: every notification once (by id), with a per-customer gap-free sequence given when
it becomes deliverable; held and dropped ones are kept (with why) but carry no sequence."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from services.gen.proactivecare.v1 import events_pb2, notify_pb2

SCHEMA = """
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    payload BLOB NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    release_at REAL,
    sequence INTEGER,
    delivered_at REAL,
    first_sent_at REAL,
    acknowledged INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX notifications_customer_sequence ON notifications(customer_id, sequence);
CREATE INDEX notifications_held ON notifications(state, release_at);
CREATE TABLE customer_sequences (customer_id TEXT PRIMARY KEY, last_sequence INTEGER NOT NULL);
CREATE TABLE preferences (customer_id TEXT PRIMARY KEY, payload BLOB NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE customer_time_zones (customer_id TEXT PRIMARY KEY, time_zone TEXT NOT NULL)
"""

DELIVERED, HELD, DROPPED = "delivered", "held", "dropped"


@dataclass(frozen=True)
class Stored:
    sequence: int
    notification: events_pb2.Notification
    delivered_at: float
    acknowledged: bool
    first_sent_at: float | None

    def to_proto(self) -> notify_pb2.DeliveredNotification:
        out = notify_pb2.DeliveredNotification(sequence=self.sequence, notification=self.notification,
                                               acknowledged=self.acknowledged)
        out.stored_at.FromNanoseconds(int(self.delivered_at * 1e9))
        return out


def insert(tx: sqlite3.Connection, n: events_pb2.Notification, now: float) -> bool:
    """Store a notification once; False when its id is already known (a duplicate from upstream)."""
    cur = tx.execute(
        "INSERT OR IGNORE INTO notifications(id, customer_id, kind, priority, payload, received_at, state) "
        "VALUES (?, ?, ?, ?, ?, ?, 'new')",
        (n.id, n.customer_id, n.kind, n.priority, n.SerializeToString(), now))
    return cur.rowcount == 1


def deliver(tx: sqlite3.Connection, notification_id: str, customer_id: str, now: float) -> int:
    """Make it deliverable: the customer's next sequence number, gap-free."""
    row = tx.execute(
        "INSERT INTO customer_sequences(customer_id, last_sequence) VALUES (?, 1) "
        "ON CONFLICT(customer_id) DO UPDATE SET last_sequence = last_sequence + 1 RETURNING last_sequence",
        (customer_id,)).fetchone()
    sequence = int(row[0])
    tx.execute("UPDATE notifications SET state = ?, outcome = 'delivered', sequence = ?, delivered_at = ?, "
               "release_at = NULL WHERE id = ?", (DELIVERED, sequence, now, notification_id))
    return sequence


def hold(tx: sqlite3.Connection, notification_id: str, release_at: float, outcome: str) -> None:
    tx.execute("UPDATE notifications SET state = ?, release_at = ?, outcome = ? WHERE id = ?",
               (HELD, release_at, outcome, notification_id))


def drop(tx: sqlite3.Connection, notification_id: str, outcome: str) -> None:
    tx.execute("UPDATE notifications SET state = ?, outcome = ?, release_at = NULL WHERE id = ?",
               (DROPPED, outcome, notification_id))


def due_held(tx: sqlite3.Connection, now: float, limit: int = 500) -> list[events_pb2.Notification]:
    rows = tx.execute("SELECT payload FROM notifications WHERE state = ? AND release_at <= ? "
                      "ORDER BY release_at, received_at LIMIT ?", (HELD, now, limit)).fetchall()
    return [events_pb2.Notification.FromString(r[0]) for r in rows]


def count_delivered_since(tx: sqlite3.Connection, customer_id: str, since: float, urgent: frozenset[int]) -> int:
    marks = ",".join("?" * len(urgent)) or "NULL"
    row = tx.execute(
        f"SELECT COUNT(*) FROM notifications WHERE customer_id = ? AND state = ? AND delivered_at >= ? "
        f"AND kind NOT IN ({marks})", (customer_id, DELIVERED, since, *urgent)).fetchone()
    return int(row[0])


def delivered_after(conn: sqlite3.Connection, customer_id: str, after_sequence: int, limit: int = 200,
                    ) -> list[Stored]:
    rows = conn.execute(
        "SELECT sequence, payload, delivered_at, acknowledged, first_sent_at FROM notifications "
        "WHERE customer_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
        (customer_id, after_sequence, limit)).fetchall()
    return [_stored(r) for r in rows]


def delivered_before(conn: sqlite3.Connection, customer_id: str, before_sequence: int | None, limit: int,
                     ) -> list[Stored]:
    """Newest first, for paging through history."""
    rows = conn.execute(
        "SELECT sequence, payload, delivered_at, acknowledged, first_sent_at FROM notifications "
        "WHERE customer_id = ? AND sequence IS NOT NULL AND sequence < ? ORDER BY sequence DESC LIMIT ?",
        (customer_id, before_sequence if before_sequence is not None else 2**62, limit)).fetchall()
    return [_stored(r) for r in rows]


def mark_first_sent(tx: sqlite3.Connection, notification_id: str, now: float) -> bool:
    """True the first time a notification reaches any subscriber (time to notify is measured once)."""
    cur = tx.execute("UPDATE notifications SET first_sent_at = ? WHERE id = ? AND first_sent_at IS NULL",
                     (now, notification_id))
    return cur.rowcount == 1


def acknowledge(tx: sqlite3.Connection, customer_id: str, ids: list[str]) -> int:
    marks = ",".join("?" * len(ids))
    cur = tx.execute(f"UPDATE notifications SET acknowledged = 1 WHERE customer_id = ? AND acknowledged = 0 "
                     f"AND sequence IS NOT NULL AND id IN ({marks})", (customer_id, *ids))
    return cur.rowcount


def load_preferences(conn: sqlite3.Connection, customer_id: str) -> notify_pb2.Preferences | None:
    row = conn.execute("SELECT payload FROM preferences WHERE customer_id = ?", (customer_id,)).fetchone()
    return notify_pb2.Preferences.FromString(row[0]) if row else None


def save_preferences(tx: sqlite3.Connection, prefs: notify_pb2.Preferences, now: float) -> None:
    tx.execute("INSERT INTO preferences(customer_id, payload, updated_at) VALUES (?, ?, ?) "
               "ON CONFLICT(customer_id) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at",
               (prefs.customer_id, prefs.SerializeToString(), now))


def customer_time_zone(conn: sqlite3.Connection, customer_id: str) -> str:
    row = conn.execute("SELECT time_zone FROM customer_time_zones WHERE customer_id = ?", (customer_id,)).fetchone()
    return row[0] if row else ""


def save_time_zone(tx: sqlite3.Connection, customer_id: str, time_zone: str) -> None:
    tx.execute("INSERT INTO customer_time_zones(customer_id, time_zone) VALUES (?, ?) "
               "ON CONFLICT(customer_id) DO UPDATE SET time_zone = excluded.time_zone", (customer_id, time_zone))


def _stored(row: sqlite3.Row) -> Stored:
    return Stored(int(row[0]), events_pb2.Notification.FromString(row[1]), float(row[2]), bool(row[3]),
                  row[4])
