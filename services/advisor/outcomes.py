"""Completing a task publishes what the advisor did to `advisor-outcomes` (key = customer id), so the services
that raised the task learn from it (services/advice/outcomes.py: the ranking treats it as the customer's answer).

The event carries the task's id (consumers dedupe on it), kind, source, outcome and reason codes; never the
advisor's free-text note (it may name the customer). It is sent after the completion is committed; a send that
fails is logged, and the task stays completed (a transactional outbox would close that gap).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from services.advisor.repository import TaskRow
from services.gen.proactivecare.v1 import events_pb2
from services.platform.kafka_client import Producer
from services.platform.settings import Settings
from services.platform.topics import ADVISOR_OUTCOMES

log = logging.getLogger(__name__)
SEND_TIMEOUT_SECONDS = 10.0


def outcome_event(row: TaskRow, advisor: str, at: datetime | None = None,
                  option_code: str = "") -> events_pb2.AdvisorOutcome:
    task = row.task
    event = events_pb2.AdvisorOutcome(task_id=task.id, customer_id=task.customer_id, queue=task.queue,
                                      kind=task.kind, source=task.source, outcome=row.outcome, advisor=advisor,
                                      reasons=task.reasons, option_code=option_code)
    event.completed_at.FromDatetime((at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None))
    return event


class OutcomePublisher:
    def __init__(self, settings: Settings, producer_factory: Callable[[], Producer],
                 on_failure: Callable[[], None] = lambda: None) -> None:
        """`on_failure` is called for each outcome that could not be sent (e.g. to count it)."""
        self.topic = settings.topic(ADVISOR_OUTCOMES)
        self._factory = producer_factory
        self._producer: Producer | None = None
        self._on_failure = on_failure

    def _send(self, event: events_pb2.AdvisorOutcome) -> None:
        if self._producer is None:
            self._producer = self._factory()
        self._producer.send(self.topic, event.customer_id.encode(), event.SerializeToString())
        self._producer.flush(SEND_TIMEOUT_SECONDS)  # raises if this (or a concurrent) send failed

    async def publish(self, row: TaskRow, advisor: str, option_code: str = "") -> None:
        event = outcome_event(row, advisor, option_code=option_code)
        try:
            await asyncio.to_thread(self._send, event)
        except Exception as exc:  # the completion stands; the lost outcome is logged
            self._on_failure()
            log.warning("outcome of task %s not published to %s (%s)", event.task_id, self.topic,
                        type(exc).__name__)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
