"""The advisor-tasks consumer: stores each AdvisorTask once (idempotent by its derived id)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from services.advisor.metrics import AdvisorMetrics
from services.advisor.repository import TaskRepository
from services.advisor.validation import validate_task
from services.gen.proactivecare.v1 import events_pb2
from services.platform.clock import utc_now
from services.platform.kafka_client import Message
from services.platform.kafka_io import Output
from services.platform.runner import Record, Source
from services.platform.settings import Settings
from services.platform.storage import Tx
from services.platform.topics import ADVISOR_TASKS


def task_source(settings: Settings) -> Source:
    def event_id(task: events_pb2.AdvisorTask, _record: Message) -> str:
        return task.id

    return Source(topic=settings.topic(ADVISOR_TASKS), decode=events_pb2.AdvisorTask.FromString,
                  validate=validate_task, event_id=event_id)


class AdvisorTaskHandler:
    def __init__(self, metrics: AdvisorMetrics, clock: Callable[[], datetime] = utc_now) -> None:
        self.metrics = metrics
        self.clock = clock

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        repo = TaskRepository(tx, self.clock)
        for record in records:
            task: events_pb2.AdvisorTask = record.value
            if repo.add(task):
                self.metrics.tasks_received.labels(task.queue, task.kind).inc()
        return {}
