from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.gen.proactivecare.v1 import common_pb2, events_pb2

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def task(task_id: str = "task-1", *, queue: str = "financial-support", value: int = 100_000, urgency: float = 0.5,
         sla_hours: float = 24, created: datetime = T0, kind: str = "REPEATED_SHORTFALL") -> events_pb2.AdvisorTask:
    t = events_pb2.AdvisorTask(id=task_id, customer_id="c-1", queue=queue, kind=kind,
                               value=common_pb2.Money(amount_minor=value, currency="GBP"), urgency=urgency,
                               summary="two shortfalls in 90 days", source="advice")
    t.created_at.FromDatetime(created)
    t.sla_deadline.FromDatetime(created + timedelta(hours=sla_hours))
    return t
