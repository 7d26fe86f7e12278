"""Advice state in the store: each customer's state (JSON), the nudges raised, the bandit's arms and each
customer's fatigue per nudge type. Reads and writes go through the caller's transaction where one is open
(the stream runner's, or RespondToNudge's), so an effect and its bookkeeping commit together."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime

from services.advice.bandit import Context, LinUCB
from services.advice.policy import RankingConfig
from services.advice.ranking import Fatigue
from services.advice.state import CustomerState
from services.gen.proactivecare.v1 import advice_pb2
from services.platform.storage import Store, to_json

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS advice_customer_state (
    customer_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS advice_nudges (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent INTEGER NOT NULL,
    response TEXT NOT NULL DEFAULT '',
    responded_at TEXT,
    context TEXT NOT NULL,
    nudge BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS advice_nudges_customer ON advice_nudges (customer_id, created_at DESC, id);
CREATE TABLE IF NOT EXISTS advice_bandit_arms (
    arm TEXT PRIMARY KEY,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS advice_fatigue (
    customer_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (customer_id, type)
)
"""


class AdviceRepository:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.migrate("advice_0001", SCHEMA)

    # ---- customer state --------------------------------------------------------------------------------

    @staticmethod
    def load_state(tx: sqlite3.Connection, customer_id: str) -> CustomerState:
        """The stored state; a fresh one when none is stored or the stored one is from an older schema (the
        picture then rebuilds from the stream within weeks, rather than dead-lettering every transaction)."""
        row = tx.execute("SELECT state FROM advice_customer_state WHERE customer_id = ?", (customer_id,)).fetchone()
        if row is None:
            return CustomerState(customer_id)
        try:
            return CustomerState.from_dict(json.loads(row["state"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("advice state of customer %s unreadable (%s): starting afresh", customer_id, exc)
            return CustomerState(customer_id)

    @staticmethod
    def save_state(tx: sqlite3.Connection, state: CustomerState, at: datetime) -> None:
        tx.execute(
            "INSERT INTO advice_customer_state (customer_id, state, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (customer_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (state.customer_id, to_json(state.to_dict()), at.isoformat()),
        )

    # ---- nudges ----------------------------------------------------------------------------------------

    @staticmethod
    def add_nudge(tx: sqlite3.Connection, nudge: advice_pb2.Nudge, context: Context) -> bool:
        return bool(tx.execute(
            "INSERT OR IGNORE INTO advice_nudges (id, customer_id, type, created_at, sent, context, nudge)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (nudge.id, nudge.customer_id, nudge.type, nudge.created_at.ToJsonString(), int(nudge.sent),
             to_json(context.to_dict()), nudge.SerializeToString()),
        ).rowcount)

    @staticmethod
    def get_nudge(tx: sqlite3.Connection | Store, nudge_id: str) -> tuple[advice_pb2.Nudge, Context] | None:
        sql = "SELECT nudge, response, context FROM advice_nudges WHERE id = ?"
        row = (tx.query_one(sql, (nudge_id,)) if isinstance(tx, Store)
               else tx.execute(sql, (nudge_id,)).fetchone())
        if row is None:
            return None
        nudge = advice_pb2.Nudge.FromString(row["nudge"])
        if row["response"]:
            nudge.response = advice_pb2.NudgeResponse.Value(row["response"])
        return nudge, Context.from_dict(json.loads(row["context"]))

    @staticmethod
    def set_response(tx: sqlite3.Connection, nudge_id: str, response: str, at: datetime) -> None:
        tx.execute("UPDATE advice_nudges SET response = ?, responded_at = ? WHERE id = ?",
                   (response, at.isoformat(), nudge_id))

    def list_nudges(self, customer_id: str, offset: int, limit: int) -> list[advice_pb2.Nudge]:
        rows = self.store.query(
            "SELECT nudge, response FROM advice_nudges WHERE customer_id = ? ORDER BY created_at DESC, id"
            " LIMIT ? OFFSET ?", (customer_id, limit, offset))
        nudges = []
        for row in rows:
            nudge = advice_pb2.Nudge.FromString(row["nudge"])
            if row["response"]:
                nudge.response = advice_pb2.NudgeResponse.Value(row["response"])
            nudges.append(nudge)
        return nudges

    # ---- bandit and fatigue ----------------------------------------------------------------------------

    @staticmethod
    def load_bandit(tx: sqlite3.Connection | Store, config: RankingConfig) -> LinUCB:
        sql = "SELECT arm, state FROM advice_bandit_arms"
        rows = tx.query(sql) if isinstance(tx, Store) else tx.execute(sql).fetchall()
        return LinUCB(config, {r["arm"]: json.loads(r["state"]) for r in rows})

    @staticmethod
    def save_arm(tx: sqlite3.Connection, bandit: LinUCB, arm: str) -> None:
        tx.execute(
            "INSERT INTO advice_bandit_arms (arm, state) VALUES (?, ?)"
            " ON CONFLICT (arm) DO UPDATE SET state = excluded.state",
            (arm, to_json(bandit.to_dict()[arm])),
        )

    @staticmethod
    def load_fatigue(tx: sqlite3.Connection, customer_id: str) -> dict[str, Fatigue]:
        rows = tx.execute("SELECT type, state FROM advice_fatigue WHERE customer_id = ?", (customer_id,)).fetchall()
        return {r["type"]: Fatigue.from_dict(json.loads(r["state"])) for r in rows}

    @staticmethod
    def save_fatigue(tx: sqlite3.Connection, customer_id: str, nudge_type: str, fatigue: Fatigue) -> None:
        tx.execute(
            "INSERT INTO advice_fatigue (customer_id, type, state) VALUES (?, ?, ?)"
            " ON CONFLICT (customer_id, type) DO UPDATE SET state = excluded.state",
            (customer_id, nudge_type, to_json(fatigue.to_dict())),
        )
