"""The mortgage service's tables: customer profiles (from the `customers` topic), the activity state of
mortgage holders (and of customers whose profile has not arrived yet), and the care offers made (the dedupe of
"never twice for the same payment").

`MortgageRepository(tx)` is bound to one transaction of the caller's. An offer id is recorded once (ON CONFLICT
DO NOTHING: the first insert is the one that notifies); profiles and activity are upserts of the whole value.
Calendar dates (a due date, the day evaluated) are ISO `YYYY-MM-DD` text: they are days, not instants.
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import Boolean, Column, Index, LargeBinary, MetaData, String, Table, Text

from services.gen.proactivecare.v1 import events_pb2
from services.mortgage import activity as act
from services.mortgage.outcomes import MIGRATIONS as OUTCOME_MIGRATIONS
from services.platform import followups
from services.platform.storage import Migration, Tx, create_tables

_METADATA = MetaData()
Table("mortgage_profiles", _METADATA,
      Column("customer_id", String, primary_key=True), Column("has_mortgage", Boolean, nullable=False),
      Column("profile", LargeBinary, nullable=False))
Table("mortgage_activity", _METADATA,
      Column("customer_id", String, primary_key=True), Column("state", Text, nullable=False),
      Column("evaluated_on", String(10)))
Table("mortgage_offers", _METADATA,
      Column("offer_id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("mortgage_id", String, nullable=False),
      Column("due_date", String(10), nullable=False),
      Column("offered_on", String(10), nullable=False),
      Column("escalated", Boolean, nullable=False),
      Column("signals", Text, nullable=False),
      Index("mortgage_offers_by_customer", "customer_id", "offered_on"))
MIGRATIONS = [Migration("mortgage/0001_profiles_activity_offers", create_tables(_METADATA)),
              *OUTCOME_MIGRATIONS,                # advisors' accepted / declined options (outcomes.py)
              followups.migration("mortgage")]   # did the care work? (services/platform/followups.py)


class MortgageRepository:
    """The mortgage tables as seen from one open transaction `tx`."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def load_profile(self, customer_id: str) -> tuple[bool, events_pb2.CustomerProfile | None]:
        """(known, profile): a known customer without a mortgage comes back as (True, None), unparsed."""
        has_mortgage = self.tx.scalar("SELECT has_mortgage FROM mortgage_profiles WHERE customer_id = :customer_id",
                                      {"customer_id": customer_id})
        if has_mortgage is None:
            return False, None
        if not has_mortgage:
            return True, None
        return True, self.profile(customer_id)

    def profile(self, customer_id: str) -> events_pb2.CustomerProfile | None:
        """The latest profile stored for a customer (any customer, with a mortgage or not)."""
        blob = self.tx.scalar("SELECT profile FROM mortgage_profiles WHERE customer_id = :customer_id",
                              {"customer_id": customer_id})
        return None if blob is None else events_pb2.CustomerProfile.FromString(bytes(blob))

    def save_profile(self, profile: events_pb2.CustomerProfile, has_mortgage: bool) -> None:
        """The latest profile. A customer without a mortgage keeps only that: nothing about their spending."""
        self.tx.execute(
            "INSERT INTO mortgage_profiles(customer_id, has_mortgage, profile) VALUES (:customer_id, :has, :profile)"
            " ON CONFLICT (customer_id) DO UPDATE SET has_mortgage = excluded.has_mortgage,"
            " profile = excluded.profile",
            {"customer_id": profile.customer_id, "has": has_mortgage, "profile": profile.SerializeToString()})
        if not has_mortgage:
            self.tx.execute("DELETE FROM mortgage_activity WHERE customer_id = :customer_id",
                            {"customer_id": profile.customer_id})

    def load_activity(self, customer_id: str) -> tuple[act.Activity, date | None]:
        row = self.tx.one("SELECT state, evaluated_on FROM mortgage_activity WHERE customer_id = :customer_id",
                          {"customer_id": customer_id})
        if row is None:
            return act.Activity(), None
        return act.from_json(json.loads(row[0])), (date.fromisoformat(row[1]) if row[1] else None)

    def save_activity(self, customer_id: str, activity: act.Activity, evaluated_on: date | None) -> None:
        self.tx.execute(
            "INSERT INTO mortgage_activity(customer_id, state, evaluated_on) VALUES (:customer_id, :state, :on)"
            " ON CONFLICT (customer_id) DO UPDATE SET state = excluded.state, evaluated_on = excluded.evaluated_on",
            {"customer_id": customer_id, "state": json.dumps(act.to_json(activity), separators=(",", ":")),
             "on": evaluated_on.isoformat() if evaluated_on else None})

    def record_offer(self, offer_id: str, customer_id: str, mortgage_id: str, due: date, offered_on: date,
                     escalated: bool, signal_codes: list[str]) -> bool:
        """True the first time this offer id is recorded; False when the customer already had it."""
        return self.tx.execute(
            "INSERT INTO mortgage_offers(offer_id, customer_id, mortgage_id, due_date, offered_on, escalated,"
            " signals) VALUES (:offer_id, :customer_id, :mortgage_id, :due, :offered_on, :escalated, :signals)"
            " ON CONFLICT DO NOTHING",
            {"offer_id": offer_id, "customer_id": customer_id, "mortgage_id": mortgage_id, "due": due.isoformat(),
             "offered_on": offered_on.isoformat(), "escalated": escalated, "signals": ",".join(signal_codes)},
        ).rowcount == 1

    def offers(self) -> list[tuple[str, str, str, str]]:
        """(customer_id, due_date, offered_on, signal codes) of every offer made, oldest first."""
        return [(r[0], r[1], r[2], r[3]) for r in self.tx.all(
            "SELECT customer_id, due_date, offered_on, signals FROM mortgage_offers ORDER BY offered_on, offer_id")]
