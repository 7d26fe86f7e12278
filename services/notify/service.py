"""NotificationService: what the bank app holds open (Subscribe) and how the customer steers it (Preferences)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from opentelemetry.trace import SpanKind

from services.gen.proactivecare.v1 import events_pb2, notify_pb2, notify_pb2_grpc
from services.notify.hub import SubscriberHub
from services.notify.metrics import DeliveryMetrics
from services.notify.policy import validate_preferences
from services.notify.repository import NotifyRepository, Stored
from services.notify.routing import preferences
from services.platform import auth, enums, tracing
from services.platform.clock import utc_now
from services.platform.errors import ValidationError, is_transient
from services.platform.paging import cut_keyset, read_keyset
from services.platform.storage import Store
from services.platform.validation import require_id

MAX_ACK = 500
log = logging.getLogger(__name__)
RECHECK_SECONDS = 1.0  # another replica may have stored something: look again at least this often
STORE_RETRY_SECONDS = 1.0  # a Subscribe stream whose read failed transiently (the database away) reads again then


def _delivery_span(item: Stored) -> Any:
    """The hop to the bank app: a child of the span that stored the notification."""
    return tracing.start("proactivecare.v1.NotificationService deliver", SpanKind.PRODUCER,
                         tracing.context_from([("traceparent", item.trace_parent or "")]),
                         attributes={"proactivecare.notification.sequence": item.sequence,
                                     "proactivecare.notification.kind":
                                         enums.short_name(events_pb2.NotificationKind, item.notification.kind)})


class NotificationServicer(notify_pb2_grpc.NotificationServiceServicer):
    def __init__(self, store: Store, hub: SubscriberHub, metrics: DeliveryMetrics) -> None:
        self.store = store
        self.hub = hub
        self.metrics = metrics

    async def Subscribe(self, request: notify_pb2.SubscribeRequest,
                        context: grpc.aio.ServicerContext) -> AsyncIterator[notify_pb2.SubscribeResponse]:
        require_id(request.customer_id, "customer_id")
        if request.after_sequence < 0:
            raise ValidationError("after_sequence", "must not be negative")
        auth.require_customer(request.customer_id)
        wake = self.hub.register(request.customer_id)
        self.metrics.subscribers.inc()
        try:
            last = request.after_sequence
            while True:
                wake.clear()
                try:
                    batch = await self.store.reading(
                        lambda tx, after=last: NotifyRepository(tx).delivered_after(request.customer_id, after))
                    if batch:
                        await self.store.call(lambda batch=batch: self._observe_first_delivery(batch))
                except Exception as exc:  # the database restarting: the stream waits for it rather than ending
                    if not is_transient(exc):
                        raise
                    log.warning("Subscribe: the store is unavailable (%s); reading again in %.1f s",
                                type(exc).__name__, STORE_RETRY_SECONDS)
                    await asyncio.sleep(STORE_RETRY_SECONDS)
                    continue
                if batch:
                    for item in batch:
                        span = _delivery_span(item) if tracing.enabled() and item.trace_parent else None
                        try:
                            yield notify_pb2.SubscribeResponse(delivered=item.to_proto())
                        finally:  # the app may close the stream as soon as it has the message: the hop still ends
                            if span is not None:
                                span.end()
                        last = item.sequence
                    continue  # there may be more: read again before waiting
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), RECHECK_SECONDS)
        finally:
            self.hub.unregister(request.customer_id, wake)
            self.metrics.subscribers.dec()

    def _observe_first_delivery(self, batch: list[Stored]) -> None:
        """Runs on the store's threads."""
        fresh = [s for s in batch if s.first_sent_at is None]
        if not fresh:
            return
        now = utc_now()
        with self.store.transaction() as tx:
            repo = NotifyRepository(tx)
            first = [s for s in fresh if repo.mark_first_sent(s.notification.id, now)]
        for s in first:
            if s.notification.origin_produced_at_ms > 0:
                kind = enums.short_name(events_pb2.NotificationKind, s.notification.kind)
                self.metrics.time_to_notify.labels(kind).observe(
                    max(0.0, now.timestamp() - s.notification.origin_produced_at_ms / 1000))

    async def Acknowledge(self, request: notify_pb2.AcknowledgeRequest,
                          context: grpc.aio.ServicerContext) -> notify_pb2.AcknowledgeResponse:
        require_id(request.customer_id, "customer_id")
        if not request.notification_ids:
            raise ValidationError("notification_ids", "give at least one id")
        if len(request.notification_ids) > MAX_ACK:
            raise ValidationError("notification_ids", f"at most {MAX_ACK} ids per call")
        if any(not i for i in request.notification_ids):
            raise ValidationError("notification_ids", "ids must not be empty")
        auth.require_customer(request.customer_id)
        ids = list(request.notification_ids)
        count = await self.store.writing(lambda tx: NotifyRepository(tx).acknowledge(request.customer_id, ids))
        return notify_pb2.AcknowledgeResponse(acknowledged=count)

    async def ListNotifications(self, request: notify_pb2.ListNotificationsRequest,
                                context: grpc.aio.ServicerContext) -> notify_pb2.ListNotificationsResponse:
        require_id(request.customer_id, "customer_id")
        before, size = read_keyset(request.page)
        auth.require_customer(request.customer_id)
        items = await self.store.reading(
            lambda tx: NotifyRepository(tx).delivered_before(request.customer_id, before, size + 1))
        items, page = cut_keyset(items, size, lambda item: item.sequence)
        return notify_pb2.ListNotificationsResponse(notifications=[i.to_proto() for i in items], page=page)

    async def GetPreferences(self, request: notify_pb2.GetPreferencesRequest,
                             context: grpc.aio.ServicerContext) -> notify_pb2.GetPreferencesResponse:
        require_id(request.customer_id, "customer_id")
        auth.require_customer(request.customer_id)
        found = await self.store.reading(lambda tx: preferences(NotifyRepository(tx), request.customer_id))
        return notify_pb2.GetPreferencesResponse(preferences=found)

    async def UpdatePreferences(self, request: notify_pb2.UpdatePreferencesRequest,
                                context: grpc.aio.ServicerContext) -> notify_pb2.UpdatePreferencesResponse:
        if not request.HasField("preferences"):
            raise ValidationError("preferences", "is required")
        validate_preferences(request.preferences)
        auth.require_customer(request.preferences.customer_id)
        await self.store.writing(lambda tx: NotifyRepository(tx).save_preferences(request.preferences, utc_now()))
        return notify_pb2.UpdatePreferencesResponse(preferences=request.preferences)

