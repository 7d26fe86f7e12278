"""Notify metrics (platform naming scheme). Labels are notification kinds and routing outcomes: small fixed sets;
never a customer id."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.gen.proactivecare.v1 import events_pb2
from services.notify.policy import Decision, Outcome
from services.platform import enums
from services.platform.metrics import PREFIX

TIME_TO_NOTIFY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.routed = Counter(f"{PREFIX}_notify_notifications_total",
                              "Notifications by kind and what the preferences made of them",
                              ("kind", "outcome"), registry=registry)
        # Every notification is timed when it becomes deliverable (stored and released to the app), whether or
        # not a Subscribe stream is open: the steady signal of the time-to-notify SLO.
        self.time_to_deliverable = Histogram(
            f"{PREFIX}_notify_time_to_deliverable_seconds",
            "From the originating transaction's produce time to the notification stored and deliverable",
            ("kind",), buckets=TIME_TO_NOTIFY_BUCKETS, registry=registry)
        for kind in enums.short_names(events_pb2.NotificationKind)[1:]:
            self.time_to_deliverable.labels(kind)
            for outcome in Outcome:
                self.routed.labels(kind, outcome.value)

    def count(self, n: events_pb2.Notification, decision: Decision) -> None:
        self.routed.labels(enums.short_name(events_pb2.NotificationKind, n.kind), decision.outcome.value).inc()


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.time_to_notify = Histogram(
            f"{PREFIX}_notify_time_to_notify_seconds",
            "From the originating transaction's produce time to first delivery on a Subscribe stream",
            ("kind",), buckets=TIME_TO_NOTIFY_BUCKETS, registry=registry)
        self.subscribers = Gauge(f"{PREFIX}_notify_subscribers", "Open Subscribe streams", registry=registry)


@dataclass(frozen=True)
class NotifyMetrics:
    routing: RoutingMetrics
    delivery: DeliveryMetrics

    @classmethod
    def create(cls, registry: CollectorRegistry) -> NotifyMetrics:
        return cls(RoutingMetrics(registry), DeliveryMetrics(registry))
