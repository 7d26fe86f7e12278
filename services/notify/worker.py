"""The gateway's stream handler: store each notification once, then deliver, hold or drop it by preference."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from services.gen.proactivecare.v1 import events_pb2
from services.notify.hub import SubscriberHub
from services.notify.metrics import RoutingMetrics
from services.notify.policy import Outcome
from services.notify.repository import NotifyRepository
from services.notify.routing import route
from services.platform import enums, streams, topics, tracing
from services.platform.clock import utc_now
from services.platform.kafka_io import Output
from services.platform.runner import Record, Source
from services.platform.settings import Settings
from services.platform.storage import Tx
from services.platform.validation import validate_notification


def sources(settings: Settings) -> list[Source]:
    return [
        # deduped by offset: a notification is stored once by its id (`NotifyRepository.insert`), and only a
        # newly stored one is routed, so the same notification at another offset changes nothing
        Source(settings.topic(topics.NOTIFICATIONS), events_pb2.Notification.FromString, validate_notification,
               event_id=lambda n, _rec: n.id, dedupe="offset"),
        streams.customer_profiles(settings),
    ]


class NotificationHandler:
    def __init__(self, settings: Settings, hub: SubscriberHub, metrics: RoutingMetrics) -> None:
        self.notifications_topic = settings.topic(topics.NOTIFICATIONS)
        self.hub = hub
        self.metrics = metrics
        self._deliverable: list[events_pb2.Notification] = []  # this batch's, timed once it commits

    def handle(self, records: list[Record], tx: Tx) -> Mapping[str, Sequence[Output]]:
        now = utc_now()
        repo = NotifyRepository(tx)
        self._deliverable = []  # a batch retried after a rollback starts again
        for record in records:
            if record.topic != self.notifications_topic:
                profile: events_pb2.CustomerProfile = record.value
                if profile.time_zone:
                    repo.save_time_zone(profile.customer_id, profile.time_zone)
                continue
            n: events_pb2.Notification = record.value
            if repo.insert(n, now, tracing.traceparent(record.span) if record.span is not None else None):
                decision = route(repo, n, now)
                self.metrics.count(n, decision)
                if decision.outcome == Outcome.DELIVER:
                    self._deliverable.append(n)
        return {}

    def committed(self, records: list[Record]) -> None:
        now = time.time()
        for n in self._deliverable:
            if n.origin_produced_at_ms > 0:
                self.metrics.time_to_deliverable.labels(enums.short_name(events_pb2.NotificationKind, n.kind)).observe(
                    max(0.0, now - n.origin_produced_at_ms / 1000))
        self.hub.wake(r.value.customer_id for r in records if r.topic == self.notifications_topic)
