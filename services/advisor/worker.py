"""The advisor-tasks consumer: stores each AdvisorTask once (idempotent by its derived id)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from kafka.consumer.fetcher import ConsumerRecord

from services.advisor.metrics import AdvisorMetrics
from services.advisor.repository import TaskRepository
from services.advisor.validation import validate_task
from services.gen.proactivecare.v1 import events_pb2
from services.platform.kafka_io import Output
from services.platform.runner import Record, Source
from services.platform.settings import Settings
from services.platform.topics import ADVISOR_TASKS


def task_source(settings: Settings) -> Source:
    def event_id(task: events_pb2.AdvisorTask, _record: ConsumerRecord) -> str:
        return task.id

    return Source(topic=settings.topic(ADVISOR_TASKS), decode=events_pb2.AdvisorTask.FromString,
                  validate=validate_task, event_id=event_id)


class AdvisorTaskHandler:
    def __init__(self, repo: TaskRepository, metrics: AdvisorMetrics) -> None:
        self.repo = repo
        self.metrics = metrics

    def handle(self, records: list[Record], tx: sqlite3.Connection) -> Mapping[str, Sequence[Output]]:
        for record in records:
            task: events_pb2.AdvisorTask = record.value
            if self.repo.add(tx, task):
                self.metrics.tasks_received.labels(task.queue, task.kind).inc()
        return {}
