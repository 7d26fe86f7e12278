"""The labelled history the stream brings, kept for retraining (I/O): each payment the stream scored, with the
feature row the live engine computed for it (the one feature path: no second one to drift from it), the champion's
score and, while a challenger is in shadow, the challenger's; and each label as it arrives (a customer's answer, a
chargeback) with the instant it became known, so a retrain sees a label only from its true arrival on.

Rows are keyed by transaction id (a redelivered batch writes nothing twice); labels have their own table, so a
label arriving before its payment's row (two topics, no order between them) is kept too. Neither holds a card
number or a name: ids, instants, scores and features only. Rows older than `FRAUD_HISTORY_DAYS` are pruned by the
retrain job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Column, Float, Index, Integer, LargeBinary, MetaData, String, Table

from services.fraud.features import FEATURE_NAMES
from services.platform.storage import Migration, Tx, create_tables

_METADATA = MetaData()
Table("fraud_scored_history", _METADATA,
      Column("tx_id", String, primary_key=True),
      Column("ts", Float, nullable=False),  # the payment's time, epoch seconds UTC
      Column("features", LargeBinary, nullable=False),  # float64 row in FEATURE_NAMES order
      Column("champion_version", String, nullable=False),
      Column("champion_score", Float, nullable=False),
      Column("challenger_version", String, nullable=True),
      Column("challenger_score", Float, nullable=True),
      Index("fraud_scored_history_by_ts", "ts"))
Table("fraud_history_labels", _METADATA,
      Column("tx_id", String, primary_key=True),
      Column("fraud", Integer, nullable=False),
      Column("known_at", Float, nullable=False),  # when the label arrived, epoch seconds UTC
      Column("source", String, nullable=False))  # answer | chargeback

MIGRATIONS = [Migration("fraud/history_0001_scored_payments_and_labels", create_tables(_METADATA))]
ANSWER, CHARGEBACK = "answer", "chargeback"


@dataclass(frozen=True)
class ScoredRow:
    tx_id: str
    ts: float
    features: np.ndarray
    champion_version: str
    champion_score: float
    challenger_version: str | None = None
    challenger_score: float | None = None


@dataclass(frozen=True)
class LabelRow:
    tx_id: str
    fraud: bool
    known_at: float
    source: str


@dataclass(frozen=True)
class History:
    """Scored payments of a time range, in time order, with what was known about each (NaN: nothing)."""

    tx_id: np.ndarray  # str
    ts: np.ndarray  # float64
    features: np.ndarray  # (n, len(FEATURE_NAMES))
    champion_score: np.ndarray
    fraud: np.ndarray  # float64: 1, 0, NaN when no label arrived
    known_at: np.ndarray  # float64, NaN when no label arrived
    source: np.ndarray  # str, "" when no label arrived

    def __len__(self) -> int:
        return len(self.ts)


class HistoryRepository:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def record(self, rows: Sequence[ScoredRow]) -> None:
        """One statement for the batch, through the driver (a batch's rows cost a few microseconds each); a payment
        already recorded keeps its first row."""
        if not rows:
            return
        columns = ([r.tx_id for r in rows], [r.ts for r in rows],
                   [np.asarray(r.features, dtype=np.float64).tobytes() for r in rows],
                   [r.champion_version for r in rows], [r.champion_score for r in rows],
                   [r.challenger_version for r in rows], [r.challenger_score for r in rows])
        if self.tx.postgresql:
            self.tx.conn.exec_driver_sql(
                "INSERT INTO fraud_scored_history(tx_id, ts, features, champion_version, champion_score,"
                " challenger_version, challenger_score) SELECT unnest(%(ids)s::text[]), unnest(%(ts)s::float8[]),"
                " unnest(%(features)s::bytea[]), unnest(%(champion)s::text[]), unnest(%(champion_score)s::float8[]),"
                " unnest(%(challenger)s::text[]), unnest(%(challenger_score)s::float8[]) ON CONFLICT DO NOTHING",
                dict(zip(("ids", "ts", "features", "champion", "champion_score", "challenger", "challenger_score"),
                         columns, strict=True)))
        else:
            self.tx.conn.exec_driver_sql(
                "INSERT INTO fraud_scored_history(tx_id, ts, features, champion_version, champion_score,"
                " challenger_version, challenger_score) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                list(zip(*columns, strict=True)))

    def add_labels(self, labels: Iterable[LabelRow]) -> None:
        """The latest word on a payment wins (an answer "it was me", then a chargeback: fraud from then on)."""
        params = [{"tx_id": lb.tx_id, "fraud": int(lb.fraud), "known_at": lb.known_at, "source": lb.source}
                  for lb in labels]
        if params:
            self.tx.execute(
                "INSERT INTO fraud_history_labels(tx_id, fraud, known_at, source) VALUES (:tx_id, :fraud,"
                " :known_at, :source) ON CONFLICT (tx_id) DO UPDATE SET fraud = excluded.fraud,"
                " known_at = excluded.known_at, source = excluded.source"
                " WHERE fraud_history_labels.known_at <= excluded.known_at", params)

    def latest_ts(self) -> float | None:
        row = self.tx.one("SELECT MAX(ts) FROM fraud_scored_history")
        return None if row is None or row[0] is None else float(row[0])

    def between(self, start: float, end: float) -> History:
        """Payments scored in [start, end), in time order, each with its label if one arrived."""
        rows = self.tx.all(
            "SELECT h.tx_id, h.ts, h.features, h.champion_score, l.fraud, l.known_at, l.source"
            " FROM fraud_scored_history h LEFT JOIN fraud_history_labels l ON l.tx_id = h.tx_id"
            " WHERE h.ts >= :start AND h.ts < :end ORDER BY h.ts, h.tx_id", {"start": start, "end": end})
        width = len(FEATURE_NAMES)
        rows = [r for r in rows if len(bytes(r[2])) == width * 8]  # rows of another feature set: not comparable
        features = (np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.float64).reshape(len(rows), width)
                    if rows else np.empty((0, width)))
        return History(
            tx_id=np.array([r[0] for r in rows], dtype=object),
            ts=np.array([float(r[1]) for r in rows], dtype=np.float64),
            features=features,
            champion_score=np.array([float(r[3]) for r in rows], dtype=np.float64),
            fraud=np.array([np.nan if r[4] is None else float(r[4]) for r in rows], dtype=np.float64),
            known_at=np.array([np.nan if r[5] is None else float(r[5]) for r in rows], dtype=np.float64),
            source=np.array([r[6] or "" for r in rows], dtype=object))

    def shadow_agreement(self, challenger_version: str, threshold: float) -> dict[str, int]:
        """How a challenger's shadow scores compared with the champion's on live payments: rows, and those where
        both were on the same side of the alert threshold."""
        row = self.tx.one(
            "SELECT COUNT(*), SUM(CASE WHEN (champion_score >= :t) = (challenger_score >= :t) THEN 1 ELSE 0 END)"
            " FROM fraud_scored_history WHERE challenger_version = :v", {"v": challenger_version, "t": threshold})
        return {"payments": int(row[0]) if row else 0, "same_alert_decision": int(row[1] or 0) if row else 0}

    def prune(self, before: float) -> int:
        """Forget payments scored before `before` and their labels; returns the payments removed."""
        self.tx.execute("DELETE FROM fraud_history_labels WHERE known_at < :before OR tx_id IN"
                        " (SELECT tx_id FROM fraud_scored_history WHERE ts < :before)", {"before": before})
        return self.tx.execute("DELETE FROM fraud_scored_history WHERE ts < :before", {"before": before}).rowcount
