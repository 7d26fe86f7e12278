"""Advice state in the store: each customer's state (JSON), the nudges raised, the bandit's arms and each
customer's fatigue per nudge type.

`AdviceRepository(tx)` is bound to one transaction of the caller's (the stream runner's, or RespondToNudge's),
so an effect and its bookkeeping commit together. A nudge id is stored once (ON CONFLICT DO NOTHING); state,
arms and fatigue are upserts of the whole value. Instants are UTC (timestamptz on PostgreSQL).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, Index, LargeBinary, MetaData, PrimaryKeyConstraint, String, Table, Text

from services.advice.bandit import Context, LinUCB
from services.advice.policy import RankingConfig
from services.advice.ranking import Fatigue
from services.advice.state import CustomerState
from services.gen.proactivecare.v1 import advice_pb2
from services.platform import enums, followups
from services.platform.storage import Migration, Tx, create_tables, instant, to_json

log = logging.getLogger(__name__)

_METADATA = MetaData()
Table("advice_customer_state", _METADATA,
      Column("customer_id", String, primary_key=True), Column("state", Text, nullable=False),
      instant("updated_at"))
Table("advice_nudges", _METADATA,
      Column("id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("type", String, nullable=False),
      instant("created_at"),
      Column("sent", Boolean, nullable=False),
      Column("response", String, nullable=False, server_default=""),
      instant("responded_at", nullable=True),
      Column("context", Text, nullable=False),
      Column("nudge", LargeBinary, nullable=False),
      Index("advice_nudges_customer", "customer_id", "created_at", "id"))
Table("advice_bandit_arms", _METADATA,
      Column("arm", String, primary_key=True), Column("state", Text, nullable=False))
Table("advice_fatigue", _METADATA,
      Column("customer_id", String, nullable=False), Column("type", String, nullable=False),
      Column("state", Text, nullable=False), PrimaryKeyConstraint("customer_id", "type"))
MIGRATIONS = [Migration("advice/0001_state_nudges_bandit_fatigue", create_tables(_METADATA)),
              followups.migration("advice")]  # did the care work? (services/platform/followups.py)


class AdviceRepository:
    """Advice's tables as seen from one open transaction `tx`."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # ---- customer state --------------------------------------------------------------------------------

    def load_state(self, customer_id: str) -> CustomerState:
        """The stored state; a fresh one when none is stored or the stored one is from an older schema (the
        picture then rebuilds from the stream within weeks, rather than dead-lettering every transaction)."""
        stored = self.tx.scalar("SELECT state FROM advice_customer_state WHERE customer_id = :customer_id",
                                {"customer_id": customer_id})
        if stored is None:
            return CustomerState(customer_id)
        try:
            return CustomerState.from_dict(json.loads(stored))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("advice state of customer %s unreadable (%s): starting afresh", customer_id, exc)
            return CustomerState(customer_id)

    def save_state(self, state: CustomerState, at: datetime) -> None:
        self.tx.execute(
            "INSERT INTO advice_customer_state (customer_id, state, updated_at) VALUES (:customer_id, :state, :at)"
            " ON CONFLICT (customer_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            {"customer_id": state.customer_id, "state": to_json(state.to_dict()), "at": at},
        )

    # ---- nudges ----------------------------------------------------------------------------------------

    def add_nudge(self, nudge: advice_pb2.Nudge, context: Context) -> bool:
        return bool(self.tx.execute(
            "INSERT INTO advice_nudges (id, customer_id, type, created_at, sent, context, nudge)"
            " VALUES (:id, :customer_id, :type, :created_at, :sent, :context, :nudge) ON CONFLICT DO NOTHING",
            {"id": nudge.id, "customer_id": nudge.customer_id, "type": nudge.type,
             "created_at": nudge.created_at.ToDatetime(tzinfo=UTC), "sent": bool(nudge.sent),
             "context": to_json(context.to_dict()), "nudge": nudge.SerializeToString()},
        ).rowcount)

    def get_nudge(self, nudge_id: str) -> tuple[advice_pb2.Nudge, Context] | None:
        row = self.tx.one("SELECT nudge, response, context FROM advice_nudges WHERE id = :id", {"id": nudge_id})
        if row is None:
            return None
        nudge = advice_pb2.Nudge.FromString(bytes(row.nudge))
        if row.response:
            nudge.response = enums.value_of(advice_pb2.NudgeResponse, row.response)
        return nudge, Context.from_dict(json.loads(row.context))

    def set_response(self, nudge_id: str, response: str, at: datetime) -> None:
        self.tx.execute("UPDATE advice_nudges SET response = :response, responded_at = :at WHERE id = :id",
                        {"response": response, "at": at, "id": nudge_id})

    def list_nudges(self, customer_id: str, offset: int, limit: int) -> list[advice_pb2.Nudge]:
        rows = self.tx.all(
            "SELECT nudge, response FROM advice_nudges WHERE customer_id = :customer_id"
            " ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset",
            {"customer_id": customer_id, "limit": limit, "offset": offset})
        return [self._nudge(row.nudge, row.response) for row in rows]

    def find_nudges(self, types: tuple[str, ...] | None = None, sent_only: bool = True) -> list[advice_pb2.Nudge]:
        """Every stored nudge (of `types`, when given), sent ones only unless `sent_only` is False (evaluation)."""
        params: dict[str, object] = {f"t{i}": t for i, t in enumerate(types or ())}
        where = [f"type IN ({','.join(':' + k for k in params)})"] if types else []
        if sent_only:
            where.append("sent = :sent")
            params["sent"] = True
        sql = "SELECT nudge, response FROM advice_nudges" + (f" WHERE {' AND '.join(where)}" if where else "")
        return [self._nudge(row.nudge, row.response) for row in self.tx.all(sql + " ORDER BY id", params)]

    def sent_counts(self) -> dict[str, int]:
        rows = self.tx.all("SELECT type, COUNT(*) AS n FROM advice_nudges WHERE sent = :sent GROUP BY type",
                           {"sent": True})
        return {r.type: int(r.n) for r in rows}

    def sent_by_customer(self) -> dict[str, int]:
        rows = self.tx.all("SELECT customer_id, COUNT(*) AS n FROM advice_nudges WHERE sent = :sent "
                           "GROUP BY customer_id", {"sent": True})
        return {r.customer_id: int(r.n) for r in rows}

    @staticmethod
    def _nudge(blob: bytes, response: str) -> advice_pb2.Nudge:
        nudge = advice_pb2.Nudge.FromString(bytes(blob))
        if response:
            nudge.response = enums.value_of(advice_pb2.NudgeResponse, response)
        return nudge

    # ---- bandit and fatigue ----------------------------------------------------------------------------

    def load_bandit(self, config: RankingConfig) -> LinUCB:
        rows = self.tx.all("SELECT arm, state FROM advice_bandit_arms")
        return LinUCB(config, {r.arm: json.loads(r.state) for r in rows})

    def save_arm(self, bandit: LinUCB, arm: str) -> None:
        self.tx.execute(
            "INSERT INTO advice_bandit_arms (arm, state) VALUES (:arm, :state)"
            " ON CONFLICT (arm) DO UPDATE SET state = excluded.state",
            {"arm": arm, "state": to_json(bandit.to_dict()[arm])},
        )

    def load_fatigue(self, customer_id: str) -> dict[str, Fatigue]:
        rows = self.tx.all("SELECT type, state FROM advice_fatigue WHERE customer_id = :customer_id",
                           {"customer_id": customer_id})
        return {r.type: Fatigue.from_dict(json.loads(r.state)) for r in rows}

    def save_fatigue(self, customer_id: str, nudge_type: str, fatigue: Fatigue) -> None:
        self.tx.execute(
            "INSERT INTO advice_fatigue (customer_id, type, state) VALUES (:customer_id, :type, :state)"
            " ON CONFLICT (customer_id, type) DO UPDATE SET state = excluded.state",
            {"customer_id": customer_id, "type": nudge_type, "state": to_json(fatigue.to_dict())},
        )
