"""Did the care work? A follow-up is opened when a service warns a customer of a problem it anticipates (an
overdraft before payday, a missed mortgage payment, more fraud on a card) and closed by the same service, in
event time, when the problem happens inside the watch window (HAPPENED), when the window passes without it
(AVOIDED), or when the warning turns out not to concern a problem (NOT_APPLICABLE). Each closed follow-up is
counted (`proactivecare_care_followups_total{kind, outcome}`) and published to `care-followups`, where the
advisor service keeps the figures advisors see ("71% of warned customers avoided the overdraft").

Invariants: one follow-up per warning id (`INSERT .. ON CONFLICT DO NOTHING`), closed once (`UPDATE .. WHERE
outcome IS NULL RETURNING`: a redelivered batch or a second replica never closes it twice), instants UTC.
`FollowUps(tx, ...)` is bound to one store transaction, the batch's; the open follow-ups of a batch's customers are
read in one query (`load`) and kept for the batch, so a transaction costs no query of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Column, Index, MetaData, String, Table

from services.gen.proactivecare.v1 import events_pb2
from services.platform.kafka_io import Output
from services.platform.metrics import PREFIX
from services.platform.storage import Migration, Tx, as_utc, create_tables, instant

SHORTFALL_WARNING, CARE_OFFER, FRAUD_ALERT = "shortfall_warning", "care_offer", "fraud_alert"
KINDS = (SHORTFALL_WARNING, CARE_OFFER, FRAUD_ALERT)
AVOIDED = events_pb2.FOLLOW_UP_OUTCOME_AVOIDED
HAPPENED = events_pb2.FOLLOW_UP_OUTCOME_HAPPENED
NOT_APPLICABLE = events_pb2.FOLLOW_UP_OUTCOME_NOT_APPLICABLE
_OUTCOME_NAMES = {AVOIDED: "avoided", HAPPENED: "happened", NOT_APPLICABLE: "not_applicable"}

_METADATA = MetaData()
Table("care_followups", _METADATA,
      Column("id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("kind", String, nullable=False),
      Column("subject", String, nullable=False, server_default=""),  # e.g. the card token an alert is about
      instant("opened_at"),
      instant("watch_until"),
      Column("outcome", String),  # NULL while open
      instant("closed_at", nullable=True),
      Index("care_followups_open", "customer_id", "outcome"))


def migration(service: str) -> Migration:
    """The follow-up table, in `service`'s store."""
    return Migration(f"{service}/followups_0001", create_tables(_METADATA))


def counter(registry: CollectorRegistry) -> Counter:
    return Counter(f"{PREFIX}_care_followups_total",
                   "Warnings whose outcome became known: did the anticipated problem happen?",
                   ("kind", "outcome"), registry=registry)


def outcome_name(outcome: int) -> str:
    return _OUTCOME_NAMES[outcome]


@dataclass(frozen=True)
class FollowUp:
    id: str
    customer_id: str
    kind: str
    opened_at: datetime
    watch_until: datetime
    subject: str = ""


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


class FollowUps:
    """The follow-ups of one service, in one store transaction; closing one gives the record to publish."""

    def __init__(self, tx: Tx, source: str, topic: str, closed: Counter) -> None:
        self.tx = tx
        self.source = source
        self.topic = topic
        self.closed = closed
        self._open: dict[str, list[FollowUp]] = {}

    def load(self, customer_ids: Iterable[str]) -> None:
        """Read the open follow-ups of `customer_ids` (those not read yet) in one query."""
        wanted = sorted({c for c in customer_ids if c not in self._open})
        if not wanted:
            return
        for customer_id in wanted:
            self._open[customer_id] = []
        rows = self.tx.all("SELECT id, customer_id, kind, subject, opened_at, watch_until FROM care_followups"
                           " WHERE customer_id IN :ids AND outcome IS NULL ORDER BY opened_at, id",
                           {"ids": wanted}, lists=("ids",))
        for r in rows:
            self._open[r.customer_id].append(FollowUp(r.id, r.customer_id, r.kind, as_utc(r.opened_at),
                                                      as_utc(r.watch_until), r.subject))

    def of(self, customer_id: str) -> list[FollowUp]:
        """The customer's open follow-ups (a copy: closing while iterating is safe)."""
        self.load([customer_id])
        return list(self._open[customer_id])

    def open(self, followup: FollowUp) -> bool:
        """Start watching; False when this warning is already watched (or was closed)."""
        added = self.tx.one("INSERT INTO care_followups (id, customer_id, kind, subject, opened_at, watch_until)"
                            " VALUES (:id, :customer_id, :kind, :subject, :opened_at, :watch_until)"
                            " ON CONFLICT DO NOTHING RETURNING id",
                            {"id": followup.id, "customer_id": followup.customer_id, "kind": followup.kind,
                             "subject": followup.subject, "opened_at": followup.opened_at,
                             "watch_until": followup.watch_until})
        if added is not None:
            self.load([followup.customer_id])
            self._open[followup.customer_id].append(followup)
        return added is not None

    def close(self, followup: FollowUp, outcome: int, at: datetime) -> Output | None:
        """Record what became of it; the record for `care-followups`, or None when it was closed already."""
        name = outcome_name(outcome)
        done = self.tx.one("UPDATE care_followups SET outcome = :outcome, closed_at = :at"
                           " WHERE id = :id AND outcome IS NULL RETURNING id",
                           {"outcome": name, "at": at, "id": followup.id})
        held = self._open.get(followup.customer_id, [])
        if followup in held:
            held.remove(followup)
        if done is None:
            return None
        self.closed.labels(followup.kind, name).inc()
        event = events_pb2.CareFollowUp(id=followup.id, customer_id=followup.customer_id, kind=followup.kind,
                                        source=self.source, outcome=outcome,  # type: ignore[arg-type]
                                        opened_at=_timestamp(followup.opened_at), closed_at=_timestamp(at))
        return Output(self.topic, followup.customer_id, event.SerializeToString())

    def expire(self, customer_id: str, now: datetime, outcome: int) -> list[Output]:
        """Close, with `outcome`, every open follow-up of the customer whose window ended before `now`."""
        closed = [self.close(f, outcome, f.watch_until) for f in self.of(customer_id) if f.watch_until < now]
        return [o for o in closed if o is not None]
