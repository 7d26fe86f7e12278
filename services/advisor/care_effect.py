"""Did the care work? The advisor service keeps what became of every warning (`care-followups`, closed by the
service that raised it: services/platform/followups.py) and answers, per kind of warning, how many avoided the
problem (`GetCareEffect`, the console's figures), and what became of one customer's warnings (the case view).

Invariants: one row per warning id (a redelivered record changes nothing); instants UTC (timestamptz on
PostgreSQL); the figures count outcomes that became known inside the window, by their event time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Column, Index, MetaData, String, Table

from services.gen.proactivecare.v1 import advisor_pb2, events_pb2
from services.platform import followups
from services.platform.kafka_io import Output
from services.platform.runner import Record, Source
from services.platform.settings import Settings
from services.platform.storage import Migration, Tx, as_utc, create_tables, instant
from services.platform.topics import CARE_FOLLOWUPS
from services.platform.validation import require, require_id

DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS = 30, 366
# what each kind's share means, in an advisor's words
_SENTENCES = {
    followups.SHORTFALL_WARNING: ("Shortfall warnings", "of warned customers avoided the overdraft"),
    followups.CARE_OFFER: ("Care offers", "of customers offered help made the payment"),
    followups.FRAUD_ALERT: ("Fraud alerts", "of alerted cards saw no further fraud"),
}

_METADATA = MetaData()
Table("care_followups_seen", _METADATA,
      Column("id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("kind", String, nullable=False),
      Column("source", String, nullable=False),
      Column("outcome", String, nullable=False),
      instant("opened_at"),
      instant("closed_at"),
      Index("care_followups_seen_closed", "closed_at"),
      Index("care_followups_seen_customer", "customer_id", "closed_at"))
MIGRATIONS = [Migration("advisor/0002_care_followups", create_tables(_METADATA))]


def validate_followup(event: events_pb2.CareFollowUp) -> None:
    require_id(event.id, "id")
    require_id(event.customer_id, "customer_id")
    require(event.kind in followups.KINDS, "kind", f"must be one of {', '.join(followups.KINDS)}", "invalid_kind")
    require(event.outcome in (followups.AVOIDED, followups.HAPPENED, followups.NOT_APPLICABLE), "outcome",
            "is required", "missing_outcome")
    require(event.closed_at.seconds > 0, "closed_at", "is required", "missing_closed_at")


def followup_source(settings: Settings) -> Source:
    """`care-followups`, validated; effects dedupe on the warning's id."""
    return Source(settings.topic(CARE_FOLLOWUPS), events_pb2.CareFollowUp.FromString, validate_followup,
                  event_id=lambda event, _record: f"followup:{event.id}")


def _stamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


class CareEffects:
    """The follow-ups the advisor service has seen, in one store transaction."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def add(self, event: events_pb2.CareFollowUp) -> bool:
        return self.tx.one(
            "INSERT INTO care_followups_seen (id, customer_id, kind, source, outcome, opened_at, closed_at)"
            " VALUES (:id, :customer_id, :kind, :source, :outcome, :opened_at, :closed_at)"
            " ON CONFLICT DO NOTHING RETURNING id",
            {"id": event.id, "customer_id": event.customer_id, "kind": event.kind, "source": event.source,
             "outcome": followups.outcome_name(event.outcome),
             "opened_at": event.opened_at.ToDatetime(tzinfo=UTC), "closed_at": event.closed_at.ToDatetime(tzinfo=UTC)},
        ) is not None

    def counts(self, since: datetime) -> dict[str, dict[str, int]]:
        """kind -> outcome name -> how many became known at or after `since`."""
        rows = self.tx.all("SELECT kind, outcome, COUNT(*) AS n FROM care_followups_seen WHERE closed_at >= :since"
                           " GROUP BY kind, outcome", {"since": since})
        found: dict[str, dict[str, int]] = {}
        for r in rows:
            found.setdefault(r.kind, {})[r.outcome] = int(r.n)
        return found

    def of_customer(self, customer_id: str, limit: int) -> list[events_pb2.CareFollowUp]:
        """The customer's latest follow-ups, newest first."""
        rows = self.tx.all("SELECT * FROM care_followups_seen WHERE customer_id = :customer_id"
                           " ORDER BY closed_at DESC, id LIMIT :limit", {"customer_id": customer_id, "limit": limit})
        by_name = {followups.outcome_name(o): o for o in (followups.AVOIDED, followups.HAPPENED,
                                                           followups.NOT_APPLICABLE)}
        return [events_pb2.CareFollowUp(id=r.id, customer_id=r.customer_id, kind=r.kind, source=r.source,
                                        outcome=by_name[r.outcome],  # type: ignore[arg-type]
                                        opened_at=_stamp(as_utc(r.opened_at)),  # type: ignore[arg-type]
                                        closed_at=_stamp(as_utc(r.closed_at)))  # type: ignore[arg-type]
                for r in rows]


def effects(counts: Mapping[str, Mapping[str, int]]) -> list[advisor_pb2.CareEffect]:
    """The figures per kind, in a fixed order, each with the sentence an advisor reads."""
    found = []
    for kind in followups.KINDS:
        by_outcome = counts.get(kind)
        if not by_outcome:
            continue
        avoided, happened = by_outcome.get("avoided", 0), by_outcome.get("happened", 0)
        share = avoided / (avoided + happened) if avoided + happened else 0.0
        label, meaning = _SENTENCES[kind]
        text = (f"{label}: {share:.0%} {meaning} ({avoided} of {avoided + happened})" if avoided + happened
                else f"{label}: no outcome known yet")
        found.append(advisor_pb2.CareEffect(kind=kind, avoided=avoided, happened=happened,
                                            not_applicable=by_outcome.get("not_applicable", 0),
                                            avoided_share=share, text=text))
    return found


def window_days(request: advisor_pb2.GetCareEffectRequest) -> int:
    days = request.window_days or DEFAULT_WINDOW_DAYS
    require(0 < days <= MAX_WINDOW_DAYS, "window_days", f"must be 0 (= {DEFAULT_WINDOW_DAYS}) to {MAX_WINDOW_DAYS}",
            "invalid_window_days")
    return days


def care_effect(tx: Tx, days: int, now: datetime) -> advisor_pb2.GetCareEffectResponse:
    return advisor_pb2.GetCareEffectResponse(
        effects=effects(CareEffects(tx).counts(now - timedelta(days=days))), window_days=days)


class FollowUpHandler:
    """Stores each closed follow-up once."""

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        repo = CareEffects(tx)
        for record in records:
            repo.add(record.value)
        return {}
