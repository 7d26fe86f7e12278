"""Fraud state in the store: alerts, frozen cards, and the feature engine's state.

`FraudRepository(tx)` is bound to one transaction of the caller's. Invariants:
- an alert is stored once (its id derives from the transaction id: ON CONFLICT DO NOTHING, so only the first
  insert notifies); an answer changes an open alert once (a conditional UPDATE on its status); a card is frozen
  once. Instants are UTC (timestamptz on PostgreSQL);
- a customer's feature state is one versioned row: it is written only by a replica that read the version it
  replaces (one conditional `UPDATE .. WHERE version = :read RETURNING` per change, or an INSERT that finds no
  row), so a replica holding a stale copy (its partition moved away and back) cannot overwrite a newer one;
- a terminal's, merchant's or category's state is shared by every replica (their customers pay at the same
  shops): a replica adds its own transactions and labels to the stored row under a row lock (rows created first,
  then locked in (kind, key) order, so two replicas never deadlock on them), never replaces it. Each such row
  carries a version that every write of its state raises (fraud/0005_entity_state_version: a trigger raises it for
  a writer that does not, an earlier version of the service or a tool), so a replica whose copy is at the stored
  version writes its copy without reading the row back, and reads back only the rows another writer changed;
- a state is stored packed (`state_codec.py`, the `packed` column, `state` left empty) since
  fraud/0004_packed_feature_state; a row with no packed form is read from its JSON `state` (rows written before,
  and states that cannot be packed), so a replica of this version carries on from what the previous one stored
  (which cannot read a packed row: during such an upgrade the new replicas write JSON, FRAUD_STATE_FORMAT=json);
- merchants' and categories' rows count per hour (fraud-features/4) and are stored under their own kinds
  (`merchant.hourly`, `mcc.hourly`), apart from the earlier lists of times (`merchant`, `mcc`): during a rolling
  upgrade the two versions of the service never write each other's rows, and an hourly row not written yet starts
  from the earlier row's times (read, never written), so the features carry on across the upgrade.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Float, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text
from sqlalchemy.engine import Row

from services.fraud.alerts import AlertRecord, AlertStatus
from services.fraud.state_codec import decode, encode
from services.fraud.windows import CustomerHistory, EntityActivity, EntityVolume
from services.platform import followups
from services.platform.errors import ConcurrentUpdateError
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
_CUSTOMER_STATE = MetaData()
Table("fraud_customer_state", _CUSTOMER_STATE,
      Column("customer_id", String, primary_key=True),
      Column("version", Integer, nullable=False),
      Column("state", Text, nullable=False))


def _versioned_customer_state(tx: Tx) -> None:
    """Customers' rows move to their own versioned table; `fraud_feature_state` keeps the shared entities."""
    create_tables(_CUSTOMER_STATE)(tx)
    tx.execute("INSERT INTO fraud_customer_state(customer_id, version, state)"
               " SELECT key, 1, state FROM fraud_feature_state WHERE kind = 'customer'")
    tx.execute("DELETE FROM fraud_feature_state WHERE kind = 'customer'")


def _packed_state(tx: Tx) -> None:
    """A binary column beside each JSON state: states are written packed from here on (`state_codec.py`)."""
    blob = "BYTEA" if tx.postgresql else "BLOB"
    tx.execute(f"ALTER TABLE fraud_customer_state ADD COLUMN packed {blob}")
    tx.execute(f"ALTER TABLE fraud_feature_state ADD COLUMN packed {blob}")


# Every write of a shared entity's state raises its row's version: this service's writes raise it themselves; the
# trigger raises it for a write that leaves it as it was (a replica of an earlier version during a rolling upgrade,
# a tool), so such a write is never mistaken for no change.
_VERSION_BUMP = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS fraud_feature_state_version AFTER UPDATE OF packed, state ON fraud_feature_state"
        " FOR EACH ROW WHEN NEW.version = OLD.version BEGIN UPDATE fraud_feature_state SET version = OLD.version + 1"
        " WHERE kind = OLD.kind AND key = OLD.key; END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION fraud_feature_state_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.version = OLD.version THEN NEW.version := OLD.version + 1; END IF; RETURN NEW; END $$",
        "CREATE OR REPLACE TRIGGER fraud_feature_state_version BEFORE UPDATE ON fraud_feature_state"
        " FOR EACH ROW EXECUTE FUNCTION fraud_feature_state_version()",
    ],
}


def _entity_state_version(tx: Tx) -> None:
    """A version on each shared entity's row (0: created, no state written yet), raised by every write of it."""
    tx.execute("ALTER TABLE fraud_feature_state ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
    tx.execute("UPDATE fraud_feature_state SET version = 1 WHERE packed IS NOT NULL OR state NOT IN ('', '{}')")
    for sql in _VERSION_BUMP["postgresql" if tx.postgresql else "sqlite"]:
        tx.conn.exec_driver_sql(sql)


MIGRATIONS = [Migration("fraud/0001_alerts_cards_features", create_tables(_METADATA)),
              Migration("fraud/0002_versioned_customer_state", _versioned_customer_state),
              followups.migration("fraud"),  # did the care work? (services/platform/followups.py)
              Migration("fraud/0004_packed_feature_state", _packed_state),
              Migration("fraud/0005_entity_state_version", _entity_state_version)]
_CHUNK = 500

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
        frozen: set[str] = set()
        for chunk in _chunks(t for t in card_tokens if t):
            frozen.update(r[0] for r in self._where_in("SELECT card_token FROM fraud_frozen_cards"
                                                       " WHERE card_token {in_}", (), chunk))
        return frozen

    # ---- feature state ------------------------------------------------------------------------------------
    def customer_versions(self, customer_ids: Iterable[str]) -> dict[str, int]:
        """The stored version of each customer's state (customers with none are absent)."""
        out: dict[str, int] = {}
        for chunk in _chunks(customer_ids):
            rows = self._where_in("SELECT customer_id, version FROM fraud_customer_state WHERE customer_id {in_}",
                                  (), chunk)
            out.update((r[0], int(r[1])) for r in rows)
        return out

    def load_customer_states(self, customer_ids: Iterable[str]) -> dict[str, tuple[int, CustomerHistory]]:
        """(version, state) of each customer that has a stored state."""
        out: dict[str, tuple[int, CustomerHistory]] = {}
        for chunk in _chunks(customer_ids):
            rows = self._where_in("SELECT customer_id, version, packed, state FROM fraud_customer_state"
                                  " WHERE customer_id {in_}", (), chunk)
            for r in rows:
                out[r[0]] = (int(r[1]), decode("customer", r[2], r[3]))  # type: ignore[assignment]
        return out

    def save_customer_states(self, states: Iterable[tuple[str, int, CustomerHistory]]) -> set[str]:
        """Write each (customer, version read, state) as version read + 1, only where the stored version is still
        the one read (0: no row yet). Returns the customers NOT written: another replica wrote them since."""
        rows = [(cid, version, *encode(state)) for cid, version, state in sorted(states, key=lambda s: s[0])]
        if not rows:
            return set()
        save = self._save_customers_postgresql if self.tx.postgresql else self._save_customers_sqlite
        written = save(rows)
        return {r[0] for r in rows} - written

    def _save_customers_postgresql(self, rows: list[tuple[str, int, bytes | None, str]]) -> set[str]:
        """One statement each for the whole batch: the new rows, and the rows still at the version read."""
        new = [r for r in rows if r[1] == 0]
        old = [r for r in rows if r[1] > 0]
        written: set[str] = set()
        if new:
            written.update(r[0] for r in self.tx.conn.exec_driver_sql(
                "INSERT INTO fraud_customer_state(customer_id, version, packed, state)"
                " SELECT unnest(%(ids)s::text[]), 1, unnest(%(packed)s::bytea[]), unnest(%(states)s::text[])"
                " ON CONFLICT DO NOTHING RETURNING customer_id",
                {"ids": [r[0] for r in new], "packed": [r[2] for r in new], "states": [r[3] for r in new]}))
        if old:
            written.update(r[0] for r in self.tx.conn.exec_driver_sql(
                "UPDATE fraud_customer_state AS s SET version = s.version + 1, packed = v.packed, state = v.state"
                " FROM (SELECT unnest(%(ids)s::text[]) AS id, unnest(%(versions)s::int[]) AS version,"
                " unnest(%(packed)s::bytea[]) AS packed, unnest(%(states)s::text[]) AS state) AS v"
                " WHERE s.customer_id = v.id AND s.version = v.version RETURNING s.customer_id",
                {"ids": [r[0] for r in old], "versions": [r[1] for r in old], "packed": [r[2] for r in old],
                 "states": [r[3] for r in old]}))
        return written

    def _save_customers_sqlite(self, rows: list[tuple[str, int, bytes | None, str]]) -> set[str]:
        """SQLite has one writer at a time: the versions read in this write transaction are the ones the writes
        meet (a snapshot older than another replica's commit cannot write: the store reports it as locked, a
        transient failure). So the rows at the version read are written in one executemany each, still on their
        conditions; should a count disagree anyway, the batch is retried (ConcurrentUpdateError, transient)."""
        stored = self.customer_versions(r[0] for r in rows)
        new = [r for r in rows if r[1] == 0 and r[0] not in stored]
        old = [r for r in rows if r[1] > 0 and stored.get(r[0]) == r[1]]
        inserted = updated = 0
        if new:  # the DB-API's executemany: one statement, no per-row work in SQLAlchemy
            inserted = self.tx.conn.exec_driver_sql(
                "INSERT INTO fraud_customer_state(customer_id, version, packed, state) VALUES (?, 1, ?, ?)"
                " ON CONFLICT DO NOTHING", [(cid, packed, state) for cid, _v, packed, state in new]).rowcount
        if old:
            updated = self.tx.conn.exec_driver_sql(
                "UPDATE fraud_customer_state SET version = version + 1, packed = ?, state = ?"
                " WHERE customer_id = ? AND version = ?",
                [(packed, state, cid, v) for cid, v, packed, state in old]).rowcount
        if inserted == len(new) and updated == len(old):
            return {r[0] for r in new} | {r[0] for r in old}
        raise ConcurrentUpdateError("fraud customer state changed inside the batch's own write transaction: "
                                    "the batch is retried on the stored state")

    def load_customers(self, customer_ids: Iterable[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """(version, state as a dict) of each customer that has a stored state (tests and tools)."""
        return {cid: (v, state.to_dict()) for cid, (v, state) in self.load_customer_states(customer_ids).items()}

    def save_customers(self, states: Iterable[tuple[str, int, dict[str, Any]]]) -> set[str]:
        """`save_customer_states` from dicts (tests and tools)."""
        return self.save_customer_states((cid, v, CustomerHistory.from_dict(d)) for cid, v, d in states)

    def load_entity_states(self, kind: str, keys: Iterable[str], *, lock: bool = False
                           ) -> dict[str, tuple[int | None, EntityActivity | EntityVolume]]:
        """(version, state) of one kind's keys (`lock`: FOR UPDATE on PostgreSQL, in key order). An hourly row not
        written yet is the earlier version's row of times, if there is one (module docstring), with no version: it
        is never taken for current. A key with no row, or an empty one, is absent."""
        return {key: (version, decode(kind, packed, text))  # type: ignore[misc]
                for key, (version, packed, text) in self._rows(kind, keys, lock).items()}

    def entity_versions(self, kind: str, keys: Iterable[str], *, lock: bool = False) -> dict[str, int]:
        """The version of each key's row, states not read (`lock` as in `load_entity_states`); absent: no row."""
        sql = "SELECT key, version FROM fraud_feature_state WHERE kind = {p} AND key {in_}"
        if lock and self.tx.postgresql:
            sql += " ORDER BY key FOR UPDATE"
        out: dict[str, int] = {}
        for chunk in _chunks(keys):
            out.update((r[0], int(r[1])) for r in self._where_in(sql, (_stored(kind),), chunk))
        return out

    def save_entity_states(self, entries: Iterable[tuple[str, str, EntityActivity | EntityVolume]]) -> None:
        """Write entity states, each row's version raised by one (their rows locked by `entity_versions` or
        `load_entity_states` with `lock` in this transaction)."""
        params = [(*encode(state), _stored(kind), key)
                  for kind, key, state in sorted(entries, key=lambda e: (e[0], e[1]))]
        if params:
            p = self._placeholder
            self.tx.conn.exec_driver_sql(f"UPDATE fraud_feature_state SET packed = {p}, state = {p},"
                                         f" version = version + 1 WHERE kind = {p} AND key = {p}", params)

    def load_entities(self, kind: str, keys: Iterable[str], *, lock: bool = False) -> dict[str, dict[str, Any]]:
        """`load_entity_states` as dicts: a JSON row as stored, a packed one converted (tests and tools)."""
        return {key: json.loads(text) if not packed else decode(kind, packed, None).to_dict()
                for key, (_version, packed, text) in self._rows(kind, keys, lock).items()}

    def _rows(self, kind: str, keys: Iterable[str], lock: bool
              ) -> dict[str, tuple[int | None, bytes | None, str]]:
        keys = list(keys)
        out = self._select(_stored(kind), keys, lock)
        legacy = _LEGACY.get(_stored(kind))
        if legacy is not None:
            unwritten = [k for k in keys if k not in out]
            if unwritten:
                out.update((k, (None, packed, text))
                           for k, (_v, packed, text) in self._select(legacy, unwritten, False).items())
        return out

    def _select(self, stored_kind: str, keys: Iterable[str], lock: bool
                ) -> dict[str, tuple[int | None, bytes | None, str]]:
        """(version, packed, JSON) of each key's row that holds a state (an empty row, '{}', is left out)."""
        out: dict[str, tuple[int | None, bytes | None, str]] = {}
        sql = "SELECT key, version, packed, state FROM fraud_feature_state WHERE kind = {p} AND key {in_}"
        if lock and self.tx.postgresql:
            sql += " ORDER BY key FOR UPDATE"
        for chunk in _chunks(keys):
            for r in self._where_in(sql, (stored_kind,), chunk):
                if r[2] or (r[3] and r[3] != "{}"):
                    out[r[0]] = (int(r[1]), r[2], r[3])
        return out

    @property
    def _placeholder(self) -> str:
        """The DB-API's positional parameter (for `exec_driver_sql`, which skips SQLAlchemy's per-call work)."""
        return "%s" if self.tx.postgresql else "?"

    def _where_in(self, sql: str, params: tuple[Any, ...], values: list[str]) -> Sequence[Row[Any]]:
        """Rows of `sql`, whose `{p}` are `params` and whose `{in_}` is "in `values`", through the DB-API at
        once: the feature state is read for every batch and every authorization, where SQLAlchemy's compiling
        of an expanding IN list costs more than the query."""
        p = self._placeholder
        if self.tx.postgresql:
            return self.tx.conn.exec_driver_sql(sql.format(p=p, in_="= ANY(%s)"), (*params, values)).all()
        return self.tx.conn.exec_driver_sql(sql.format(p=p, in_=f"IN ({','.join('?' * len(values))})"),
                                            (*params, *values)).all()

    def create_entities(self, keys: Iterable[tuple[str, str]]) -> None:
        """Empty rows for entities not stored yet, in (kind, key) order: from here on each has a row to lock."""
        params = [(_stored(kind), key) for kind, key in sorted(set(keys))]
        if params:
            p = self._placeholder
            self.tx.conn.exec_driver_sql(f"INSERT INTO fraud_feature_state(kind, key, state) VALUES ({p}, {p}, '{{}}')"
                                         " ON CONFLICT DO NOTHING", params)

    def save_entities(self, entries: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Write merged entity states as JSON (tests and tools; the worker writes them packed)."""
        params = [{"kind": _stored(kind), "key": key, "state": json.dumps(state, separators=(",", ":"))}
                  for kind, key, state in sorted(entries, key=lambda e: (e[0], e[1]))]
        if params:
            self.tx.execute("UPDATE fraud_feature_state SET packed = NULL, state = :state"
                            " WHERE kind = :kind AND key = :key", params)

    def load_feature_state(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every stored state as (kind, key, state), customers included (tests and tools, not the hot path)."""
        for row in self.tx.execute("SELECT customer_id, packed, state FROM fraud_customer_state"):
            yield "customer", row[0], _as_dict("customer", row[1], row[2])
        for row in self.tx.execute("SELECT kind, key, packed, state FROM fraud_feature_state"):
            if row[0] not in _LEGACY.values():  # the earlier version's rows: read only to seed hourly ones
                kind = _KINDS.get(row[0], row[0])
                yield kind, row[1], _as_dict(kind, row[2], row[3])


def _as_dict(kind: str, packed: bytes | None, text: str) -> dict[str, Any]:
    """A stored state as its dict: a JSON row as stored, a packed one converted."""
    return decode(kind, packed, None).to_dict() if packed else json.loads(text)


# the kind a feature state is stored under, and the earlier row an hourly one starts from (module docstring)
_STORED = {"merchant": "merchant.hourly", "mcc": "mcc.hourly"}
_KINDS = {stored: kind for kind, stored in _STORED.items()}
_LEGACY = {"merchant.hourly": "merchant", "mcc.hourly": "mcc"}


def _stored(kind: str) -> str:
    return _STORED.get(kind, kind)


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """Distinct values in sorted chunks (an `IN :values` list each, well under SQLite's parameter limit)."""
    distinct = sorted(set(values))
    for start in range(0, len(distinct), _CHUNK):
        yield distinct[start:start + _CHUNK]


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
