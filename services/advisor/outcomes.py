"""Completing a task publishes what the advisor did to `advisor-outcomes` (key = customer id), so the services
that raised the task learn from it (services/advice/outcomes.py: the ranking treats it as the customer's answer;
services/mortgage/outcomes.py: a declined option is not offered again inside the policy's window).

A transactional outbox: the outcome is written in the completion's own store transaction (`OutcomeOutbox.add`),
so a completion and its outcome exist together or not at all; a relay (`OutcomeRelay`, a background task of the
service, woken by each completion and every few seconds) produces what is pending and marks it sent. A broker that
is away loses nothing: the rows wait, the relay retries with backoff, `proactivecare_advisor_outcomes_pending`
says how many wait. No store transaction is held while sending, so replicas' relays may send the same pending row, as
may a crash between the send and the mark: harmless, consumers dedupe on the task id.

The event carries the task's id, kind, source, outcome, reason codes and the care option accepted or declined;
never the advisor's free-text note (it may name the customer). The outbox is also the record of the customer's
earlier outcomes that a case view shows (`of_customer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Index, LargeBinary, MetaData, String, Table

from services.advisor.metrics import AdvisorMetrics
from services.advisor.repository import TaskRow
from services.gen.proactivecare.v1 import events_pb2
from services.platform.clock import utc_now
from services.platform.kafka_client import Producer
from services.platform.settings import Settings
from services.platform.storage import Migration, Store, Tx, create_tables, instant
from services.platform.topics import ADVISOR_OUTCOMES

log = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 10.0
RELAY_BATCH = 200
RELAY_IDLE_SECONDS = 5.0                   # a relay looks for pending rows at least this often
RELAY_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 15.0, 30.0)
SENT_KEPT_DAYS = 400                        # sent rows stay as the customers' record of outcomes, then go

_METADATA = MetaData()
Table("advisor_outcome_outbox", _METADATA,
      Column("task_id", String, primary_key=True),
      Column("customer_id", String, nullable=False),
      Column("event", LargeBinary, nullable=False),
      instant("completed_at"),
      instant("sent_at", nullable=True),
      Index("advisor_outcome_outbox_pending", "sent_at", "completed_at"),
      Index("advisor_outcome_outbox_customer", "customer_id", "completed_at"))
MIGRATIONS = [Migration("advisor/0003_outcome_outbox", create_tables(_METADATA))]


def outcome_event(row: TaskRow, advisor: str, at: datetime, option_code: str = "") -> events_pb2.AdvisorOutcome:
    task = row.task
    event = events_pb2.AdvisorOutcome(task_id=task.id, customer_id=task.customer_id, queue=task.queue,
                                      kind=task.kind, source=task.source, outcome=row.outcome, advisor=advisor,
                                      reasons=task.reasons, option_code=option_code)
    event.completed_at.FromDatetime(at.astimezone(UTC).replace(tzinfo=None))
    return event


class OutcomeOutbox:
    """The outcomes waiting to be (or already) published, in one store transaction."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def add(self, event: events_pb2.AdvisorOutcome) -> None:
        self.tx.execute("INSERT INTO advisor_outcome_outbox (task_id, customer_id, event, completed_at)"
                        " VALUES (:task_id, :customer_id, :event, :completed_at) ON CONFLICT DO NOTHING",
                        {"task_id": event.task_id, "customer_id": event.customer_id,
                         "event": event.SerializeToString(),
                         "completed_at": event.completed_at.ToDatetime(tzinfo=UTC)})

    def take_pending(self, limit: int = RELAY_BATCH) -> list[events_pb2.AdvisorOutcome]:
        """The oldest unsent outcomes."""
        rows = self.tx.all("SELECT event FROM advisor_outcome_outbox WHERE sent_at IS NULL"
                           " ORDER BY completed_at, task_id LIMIT :limit", {"limit": limit})
        return [events_pb2.AdvisorOutcome.FromString(bytes(r.event)) for r in rows]

    def mark_sent(self, task_ids: list[str], at: datetime) -> None:
        self.tx.execute("UPDATE advisor_outcome_outbox SET sent_at = :at WHERE task_id IN :ids AND sent_at IS NULL",
                        {"at": at, "ids": task_ids}, lists=("ids",))

    def pending_count(self) -> int:
        return int(self.tx.scalar("SELECT COUNT(*) FROM advisor_outcome_outbox WHERE sent_at IS NULL"))

    def forget_sent_before(self, before: datetime) -> int:
        return self.tx.execute("DELETE FROM advisor_outcome_outbox WHERE sent_at < :before",
                               {"before": before}).rowcount

    def of_customer(self, customer_id: str, limit: int) -> list[events_pb2.AdvisorOutcome]:
        """The customer's outcomes, newest first (sent or still waiting)."""
        rows = self.tx.all("SELECT event FROM advisor_outcome_outbox WHERE customer_id = :customer_id"
                           " ORDER BY completed_at DESC, task_id LIMIT :limit",
                           {"customer_id": customer_id, "limit": limit})
        return [events_pb2.AdvisorOutcome.FromString(bytes(r.event)) for r in rows]


class OutcomeRelay:
    """Produces the outbox's pending outcomes to `advisor-outcomes`; `run` is the service's background task."""

    def __init__(self, store: Store, settings: Settings, producer_factory: Callable[[], Producer],
                 metrics: AdvisorMetrics, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.topic = settings.topic(ADVISOR_OUTCOMES)
        self._factory = producer_factory
        self._producer: Producer | None = None
        self.metrics = metrics
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A completion committed: relay now rather than at the next idle look."""
        self._wake.set()

    def relay_once(self) -> int:
        """Send what is pending and mark it sent; how many were sent. No store transaction is held while sending (a
        broker that is away must not hold SQLite's write lock, nor PostgreSQL rows, for its time-outs). A failed
        send raises, marking nothing: the rows are sent again on the next try."""
        with self.store.read() as tx:
            events = OutcomeOutbox(tx).take_pending()
        if events:
            if self._producer is None:
                self._producer = self._factory()
            for e in events:
                self._producer.send(self.topic, e.customer_id.encode(), e.SerializeToString())
            self._producer.flush(SEND_TIMEOUT_SECONDS)  # raises if a send failed: nothing is marked
        with self.store.transaction() as tx:
            outbox = OutcomeOutbox(tx)
            if events:
                outbox.mark_sent([e.task_id for e in events], self.clock())
                outbox.forget_sent_before(self.clock() - timedelta(days=SENT_KEPT_DAYS))
            self.metrics.outcomes_pending.set(outbox.pending_count())
        return len(events)

    async def run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                sent = await self.store.call(self.relay_once)
                failures = 0
                if sent:
                    continue  # there may be more
            except Exception as exc:  # the rows wait; try again after a pause
                self.metrics.outcome_send_failures.inc()
                log.warning("advisor outcomes not published to %s yet (%s); retrying", self.topic,
                            type(exc).__name__)
                await asyncio.sleep(RELAY_BACKOFF_SECONDS[min(failures, len(RELAY_BACKOFF_SECONDS) - 1)])
                failures += 1
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=RELAY_IDLE_SECONDS)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
