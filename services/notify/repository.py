"""The gateway's tables: every notification once (by id), with a per-customer gap-free sequence given when
it becomes deliverable; held and dropped ones are kept (with why) but carry no sequence.

`NotifyRepository(tx)` is bound to one transaction of the caller's. Invariants: a notification id is stored
once (ON CONFLICT DO NOTHING); a customer's sequence is taken with one INSERT .. ON CONFLICT DO UPDATE ..
RETURNING on `customer_sequences`, which holds that customer's row lock until commit, so replicas delivering
to one customer at once get consecutive numbers and a rolled-back delivery leaves no gap; the unique index on
(customer_id, sequence) makes any other outcome fail loudly. Instants are UTC (timestamptz on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, false
from sqlalchemy.engine import Row

from services.gen.proactivecare.v1 import events_pb2, notify_pb2
from services.platform.storage import Migration, Tx, as_utc, create_tables, instant

_METADATA = MetaData()
Table("notifications", _METADATA,
      Column("id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("kind", Integer, nullable=False),
      Column("priority", Integer, nullable=False),
      Column("payload", LargeBinary, nullable=False),
      instant("received_at"),
      Column("state", String, nullable=False),
      Column("outcome", String, nullable=False, server_default=""),
      instant("release_at", nullable=True),
      Column("sequence", Integer),
      instant("delivered_at", nullable=True),
      instant("first_sent_at", nullable=True),
      Column("acknowledged", Boolean, nullable=False, server_default=false()),
      Index("notifications_customer_sequence", "customer_id", "sequence", unique=True),
      Index("notifications_held", "state", "release_at"))
Table("customer_sequences", _METADATA,
      Column("customer_id", String, primary_key=True), Column("last_sequence", Integer, nullable=False))
Table("preferences", _METADATA,
      Column("customer_id", String, primary_key=True), Column("payload", LargeBinary, nullable=False),
      instant("updated_at"))
Table("customer_time_zones", _METADATA,
      Column("customer_id", String, primary_key=True), Column("time_zone", String, nullable=False))
MIGRATIONS = [
    Migration("notify/0001_notifications", create_tables(_METADATA)),
    # the W3C traceparent of the notify span that stored it: its delivery on a stream joins that trace
    Migration("notify/0002_trace_parent",
              lambda tx: tx.execute("ALTER TABLE notifications ADD COLUMN trace_parent VARCHAR")),
]

DELIVERED, HELD, DROPPED = "delivered", "held", "dropped"
DELIVERED_CHANNEL = "notify_delivered"  # payload: the customer id
_STORED = "SELECT sequence, payload, delivered_at, acknowledged, first_sent_at, trace_parent FROM notifications"


@dataclass(frozen=True)
class Stored:
    sequence: int
    notification: events_pb2.Notification
    delivered_at: datetime
    acknowledged: bool
    first_sent_at: datetime | None
    trace_parent: str | None = None

    def to_proto(self) -> notify_pb2.DeliveredNotification:
        out = notify_pb2.DeliveredNotification(sequence=self.sequence, notification=self.notification,
                                               acknowledged=self.acknowledged)
        out.stored_at.FromDatetime(self.delivered_at)
        return out


class NotifyRepository:
    """The gateway's tables as seen from one open transaction `tx`."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def insert(self, n: events_pb2.Notification, now: datetime, trace_parent: str | None = None) -> bool:
        """Store a notification once; False when its id is already known (a duplicate from upstream)."""
        return self.tx.execute(
            "INSERT INTO notifications(id, customer_id, kind, priority, payload, received_at, state, trace_parent) "
            "VALUES (:id, :customer_id, :kind, :priority, :payload, :now, 'new', :trace_parent) "
            "ON CONFLICT DO NOTHING",
            {"id": n.id, "customer_id": n.customer_id, "kind": n.kind, "priority": n.priority,
             "payload": n.SerializeToString(), "now": now, "trace_parent": trace_parent}).rowcount == 1

    def deliver(self, notification_id: str, customer_id: str, now: datetime) -> int:
        """Make it deliverable: the customer's next sequence number, gap-free."""
        sequence = int(self.tx.scalar(
            "INSERT INTO customer_sequences(customer_id, last_sequence) VALUES (:customer_id, 1) "
            "ON CONFLICT (customer_id) DO UPDATE SET last_sequence = customer_sequences.last_sequence + 1 "
            "RETURNING last_sequence", {"customer_id": customer_id}))
        self.tx.execute("UPDATE notifications SET state = :state, outcome = 'delivered', sequence = :sequence, "
                        "delivered_at = :now, release_at = NULL WHERE id = :id",
                        {"state": DELIVERED, "sequence": sequence, "now": now, "id": notification_id})
        self.tx.notify(DELIVERED_CHANNEL, customer_id)  # wakes Subscribe streams on every replica at commit
        return sequence

    def hold(self, notification_id: str, release_at: datetime, outcome: str) -> None:
        self.tx.execute("UPDATE notifications SET state = :state, release_at = :release_at, outcome = :outcome "
                        "WHERE id = :id",
                        {"state": HELD, "release_at": release_at, "outcome": outcome, "id": notification_id})

    def drop(self, notification_id: str, outcome: str) -> None:
        self.tx.execute("UPDATE notifications SET state = :state, outcome = :outcome, release_at = NULL "
                        "WHERE id = :id", {"state": DROPPED, "outcome": outcome, "id": notification_id})

    def due_held(self, now: datetime, limit: int = 500) -> list[events_pb2.Notification]:
        """Held notifications whose window ended; on PostgreSQL locked (SKIP LOCKED) so that two replicas'
        release jobs never route the same one twice."""
        lock = " FOR UPDATE SKIP LOCKED" if self.tx.postgresql else ""
        rows = self.tx.all("SELECT payload FROM notifications WHERE state = :state AND release_at <= :now "
                           f"ORDER BY release_at, received_at LIMIT :limit{lock}",
                           {"state": HELD, "now": now, "limit": limit})
        return [events_pb2.Notification.FromString(bytes(r[0])) for r in rows]

    def held(self, notification_id: str) -> tuple[str, str, datetime | None] | None:
        """(state, outcome, release_at) of a stored notification."""
        row = self.tx.one("SELECT state, outcome, release_at FROM notifications WHERE id = :id",
                          {"id": notification_id})
        return None if row is None else (row.state, row.outcome, as_utc(row.release_at))

    def count_delivered_since(self, customer_id: str, since: datetime, urgent: frozenset[int]) -> int:
        params: dict[str, Any] = {f"k{i}": kind for i, kind in enumerate(sorted(urgent))}
        marks = ",".join(f":{k}" for k in params) or "NULL"
        params.update({"customer_id": customer_id, "state": DELIVERED, "since": since})
        return int(self.tx.scalar(
            f"SELECT COUNT(*) FROM notifications WHERE customer_id = :customer_id AND state = :state "
            f"AND delivered_at >= :since AND kind NOT IN ({marks})", params))

    def delivered_after(self, customer_id: str, after_sequence: int, limit: int = 200) -> list[Stored]:
        rows = self.tx.all(f"{_STORED} WHERE customer_id = :customer_id AND sequence > :after "
                           "ORDER BY sequence LIMIT :limit",
                           {"customer_id": customer_id, "after": after_sequence, "limit": limit})
        return [_stored(r) for r in rows]

    def delivered_before(self, customer_id: str, before_sequence: int | None, limit: int) -> list[Stored]:
        """Newest first, for paging through history."""
        rows = self.tx.all(f"{_STORED} WHERE customer_id = :customer_id AND sequence IS NOT NULL "
                           "AND sequence < :before ORDER BY sequence DESC LIMIT :limit",
                           {"customer_id": customer_id, "limit": limit,
                            "before": before_sequence if before_sequence is not None else 2**31 - 1})
        return [_stored(r) for r in rows]

    def mark_first_sent(self, notification_id: str, now: datetime) -> bool:
        """True the first time a notification reaches any subscriber (time to notify is measured once)."""
        return self.tx.execute("UPDATE notifications SET first_sent_at = :now WHERE id = :id "
                               "AND first_sent_at IS NULL", {"now": now, "id": notification_id}).rowcount == 1

    def acknowledge(self, customer_id: str, ids: list[str]) -> int:
        if not ids:
            return 0
        return self.tx.execute("UPDATE notifications SET acknowledged = :true WHERE customer_id = :customer_id "
                               "AND acknowledged = :false AND sequence IS NOT NULL AND id IN :ids",
                               {"ids": list(ids), "customer_id": customer_id, "true": True, "false": False},
                               lists=("ids",)).rowcount

    def load_preferences(self, customer_id: str) -> notify_pb2.Preferences | None:
        blob = self.tx.scalar("SELECT payload FROM preferences WHERE customer_id = :customer_id",
                              {"customer_id": customer_id})
        return notify_pb2.Preferences.FromString(bytes(blob)) if blob is not None else None

    def save_preferences(self, prefs: notify_pb2.Preferences, now: datetime) -> None:
        self.tx.execute("INSERT INTO preferences(customer_id, payload, updated_at) VALUES (:customer_id, :payload, "
                        ":now) ON CONFLICT (customer_id) DO UPDATE SET payload = excluded.payload, "
                        "updated_at = excluded.updated_at",
                        {"customer_id": prefs.customer_id, "payload": prefs.SerializeToString(), "now": now})

    def customer_time_zone(self, customer_id: str) -> str:
        return self.tx.scalar("SELECT time_zone FROM customer_time_zones WHERE customer_id = :customer_id",
                              {"customer_id": customer_id}) or ""

    def save_time_zone(self, customer_id: str, time_zone: str) -> None:
        self.tx.execute("INSERT INTO customer_time_zones(customer_id, time_zone) VALUES (:customer_id, :tz) "
                        "ON CONFLICT (customer_id) DO UPDATE SET time_zone = excluded.time_zone",
                        {"customer_id": customer_id, "tz": time_zone})


def _stored(row: Row[Any]) -> Stored:
    return Stored(int(row[0]), events_pb2.Notification.FromString(bytes(row[1])),
                  as_utc(row[2]), bool(row[3]), as_utc(row[4]), row[5])  # type: ignore[arg-type]
