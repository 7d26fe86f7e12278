"""The mortgage service's tables: customer profiles (from the `customers` topic), the activity state of
mortgage holders (and of customers whose profile has not arrived yet), and the care offers made (the dedupe of
"never twice for the same payment")."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from services.gen.proactivecare.v1 import events_pb2
from services.mortgage import activity as act
from services.platform.storage import Store

MIGRATION = "mortgage-1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS mortgage_profiles (
    customer_id TEXT PRIMARY KEY,
    has_mortgage INTEGER NOT NULL,
    profile BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS mortgage_activity (
    customer_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    evaluated_on TEXT
);
CREATE TABLE IF NOT EXISTS mortgage_offers (
    offer_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    mortgage_id TEXT NOT NULL,
    due_date TEXT NOT NULL,
    offered_on TEXT NOT NULL,
    escalated INTEGER NOT NULL,
    signals TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mortgage_offers_by_customer ON mortgage_offers(customer_id, offered_on)
"""


def migrate(store: Store) -> None:
    store.migrate(MIGRATION, SCHEMA)


def profile_from_bytes(blob: bytes) -> events_pb2.CustomerProfile:
    return events_pb2.CustomerProfile.FromString(blob)


def load_profile(conn: sqlite3.Connection, customer_id: str) -> tuple[bool, events_pb2.CustomerProfile | None]:
    """(known, profile): a known customer without a mortgage comes back as (True, None), unparsed."""
    row = conn.execute("SELECT has_mortgage FROM mortgage_profiles WHERE customer_id = ?", (customer_id,)).fetchone()
    if row is None:
        return False, None
    if not row[0]:
        return True, None
    blob = conn.execute("SELECT profile FROM mortgage_profiles WHERE customer_id = ?", (customer_id,)).fetchone()[0]
    return True, events_pb2.CustomerProfile.FromString(blob)


def save_profile(conn: sqlite3.Connection, profile: events_pb2.CustomerProfile, has_mortgage: bool) -> None:
    """The latest profile. A customer without a mortgage keeps only that: nothing about their spending."""
    conn.execute("INSERT INTO mortgage_profiles(customer_id, has_mortgage, profile) VALUES (?, ?, ?) "
                 "ON CONFLICT(customer_id) DO UPDATE SET has_mortgage = excluded.has_mortgage, "
                 "profile = excluded.profile",
                 (profile.customer_id, int(has_mortgage), profile.SerializeToString()))
    if not has_mortgage:
        conn.execute("DELETE FROM mortgage_activity WHERE customer_id = ?", (profile.customer_id,))


def load_activity(conn: sqlite3.Connection, customer_id: str) -> tuple[act.Activity, date | None]:
    row = conn.execute("SELECT state, evaluated_on FROM mortgage_activity WHERE customer_id = ?",
                       (customer_id,)).fetchone()
    if row is None:
        return act.Activity(), None
    return act.from_json(json.loads(row[0])), (date.fromisoformat(row[1]) if row[1] else None)


def save_activity(conn: sqlite3.Connection, customer_id: str, activity: act.Activity,
                  evaluated_on: date | None) -> None:
    conn.execute("INSERT INTO mortgage_activity(customer_id, state, evaluated_on) VALUES (?, ?, ?) "
                 "ON CONFLICT(customer_id) DO UPDATE SET state = excluded.state, evaluated_on = excluded.evaluated_on",
                 (customer_id, json.dumps(act.to_json(activity), separators=(",", ":")),
                  evaluated_on.isoformat() if evaluated_on else None))


def record_offer(conn: sqlite3.Connection, offer_id: str, customer_id: str, mortgage_id: str, due: date,
                 offered_on: date, escalated: bool, signal_codes: list[str]) -> bool:
    """True the first time this offer id is recorded; False when the customer already had it."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO mortgage_offers(offer_id, customer_id, mortgage_id, due_date, offered_on, escalated, "
        "signals) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (offer_id, customer_id, mortgage_id, due.isoformat(), offered_on.isoformat(), int(escalated),
         ",".join(signal_codes)),
    )
    return cur.rowcount == 1


def offers(store: Store) -> list[tuple[str, str, str, str]]:
    """(customer_id, due_date, offered_on, signal codes) of every offer made, oldest first."""
    return [(r[0], r[1], r[2], r[3]) for r in store.query(
        "SELECT customer_id, due_date, offered_on, signals FROM mortgage_offers ORDER BY offered_on")]
