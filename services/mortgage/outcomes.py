"""Advisors' outcomes on care offers (`advisor-outcomes`, services/advisor/outcomes.py): which option a customer
accepted or declined. A declined option is not offered to that customer again for the policy's
`care.declined_option_window_days` (neither in a care offer's notification nor in GetCareOptions); an accepted one
is kept on record. Effects dedupe on the task id (the table's key and the runner's event id)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table

from services.gen.proactivecare.v1 import events_pb2
from services.mortgage.policy import Policy
from services.platform.kafka_io import Output
from services.platform.runner import Record
from services.platform.storage import Migration, Tx, create_tables

OUTCOMES = {"OFFER_ACCEPTED": True, "OFFER_DECLINED": False}

_METADATA = MetaData()
Table("mortgage_option_outcomes", _METADATA,
      Column("task_id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("option_code", String, nullable=False),
      Column("accepted", Boolean, nullable=False),
      Column("decided_on", String, nullable=False),  # ISO day, as the other mortgage tables keep days
      Index("mortgage_option_outcomes_customer", "customer_id", "decided_on"))
MIGRATIONS = [Migration("mortgage/0002_option_outcomes", create_tables(_METADATA))]


def declined_within(tx: Tx, customer_id: str, today: date, policy: Policy) -> set[str]:
    """The option codes `customer_id` declined inside the policy's window up to `today`: not offered again."""
    return declined_since(tx, customer_id, today - timedelta(days=policy.care.declined_option_window_days))


def declined_since(tx: Tx, customer_id: str, since: date) -> set[str]:
    """The option codes `customer_id` declined on or after `since`."""
    rows = tx.all("SELECT option_code FROM mortgage_option_outcomes WHERE customer_id = :customer_id"
                  " AND accepted = :false AND decided_on >= :since",
                  {"customer_id": customer_id, "false": False, "since": since.isoformat()})
    return {r.option_code for r in rows}




class OptionOutcomeHandler:
    """Records the option of each accepted or declined mortgage care offer."""

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        for record in records:
            event: events_pb2.AdvisorOutcome = record.value
            accepted = OUTCOMES.get(event.outcome)
            if event.source != "mortgage" or accepted is None or not event.option_code:
                continue
            decided = event.completed_at.ToDatetime().date() if event.completed_at.seconds else date.today()
            tx.execute("INSERT INTO mortgage_option_outcomes (task_id, customer_id, option_code, accepted,"
                       " decided_on) VALUES (:task_id, :customer_id, :option_code, :accepted, :decided_on)"
                       " ON CONFLICT DO NOTHING",
                       {"task_id": event.task_id, "customer_id": event.customer_id, "option_code": event.option_code,
                        "accepted": accepted, "decided_on": decided.isoformat()})
        return {}
