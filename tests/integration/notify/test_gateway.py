"""The notification gateway over a real broker and real gRPC streams."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.gen.proactivecare.v1 import common_pb2, events_pb2, notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE, release_due
from services.notify.repository import NotifyRepository
from services.platform.app import ServiceThread
from services.platform.client import auth_metadata, connect, connect_aio
from services.platform.topics import NOTIFICATIONS
from tests import factories
from tests.integration.conftest import wait_for
from tests.stores import rows


def _publish(produce, *notes: events_pb2.Notification) -> None:
    for n in notes:
        produce(NOTIFICATIONS, n.customer_id, n.SerializeToString())


class _Stream:
    """A Subscribe stream read on a background thread into a queue."""

    def __init__(self, target: str, tok: str, customer_id: str, after: int = 0) -> None:
        self.channel = connect(target, tok)
        stub = notify_pb2_grpc.NotificationServiceStub(self.channel)
        self.call = stub.Subscribe(notify_pb2.SubscribeRequest(customer_id=customer_id, after_sequence=after))
        self.items: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for item in self.call:
                self.items.put(item.delivered)
        except grpc.RpcError as err:
            self.items.put(err)

    def take(self, n: int, timeout: float = 30.0) -> list:
        """Up to n items within the timeout (as long as `wait_for`'s: a new consumer group's first assignment can
        take seconds on a loaded machine)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            try:
                item = self.items.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if isinstance(item, grpc.RpcError):
                raise item
            got.append(item)
        return got

    def nothing_more(self, wait: float = 1.0) -> bool:
        try:
            self.items.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def test_an_offline_app_gets_what_it_missed_in_order_on_reconnect_then_the_live_ones(settings, produce, token):
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        first = [factories.notification("C1", title=f"alert {i}") for i in range(2)]
        _publish(produce, *first)
        online = _Stream(svc.target, token("C1"), "C1")
        seen = online.take(2)
        assert [s.notification.id for s in seen] == [n.id for n in first]
        last_sequence = seen[-1].sequence
        online.close()  # the app goes offline

        missed = [factories.notification("C1", title=f"missed {i}") for i in range(3)]
        _publish(produce, *missed)
        assert wait_for(lambda: len(rows(
            svc.app.store, "SELECT 1 FROM notifications WHERE sequence IS NOT NULL")) == 5)

        back = _Stream(svc.target, token("C1"), "C1", after=last_sequence)
        replayed = back.take(3)
        assert [r.notification.id for r in replayed] == [n.id for n in missed]
        assert [r.sequence for r in replayed] == [last_sequence + 1, last_sequence + 2, last_sequence + 3]
        live = factories.notification("C1", title="live")
        _publish(produce, live)
        (got,) = back.take(1)
        assert got.notification.id == live.id and got.sequence == last_sequence + 4  # no gap, no duplicate
        assert back.nothing_more()
        back.close()


def test_duplicate_delivery_from_kafka_never_duplicates_a_notification(settings, produce, token):
    n = factories.notification("C2")
    _publish(produce, n, n, n)
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        stream = _Stream(svc.target, token("C2"), "C2")
        assert [s.notification.id for s in stream.take(1)] == [n.id]
        assert stream.nothing_more(1.5)
        stream.close()
        assert len(rows(svc.app.store, "SELECT 1 FROM notifications WHERE id = :id", {"id": n.id})) == 1


def _quiet_now(customer_id: str) -> notify_pb2.Preferences:
    """Quiet hours around the current UTC minute, for a customer in UTC."""
    minute = time.gmtime().tm_hour * 60 + time.gmtime().tm_min
    return notify_pb2.Preferences(customer_id=customer_id, time_zone="UTC",
                                  quiet_hours=notify_pb2.QuietHours(enabled=True, start_minute=(minute - 5) % 1440,
                                                                    end_minute=(minute + 30) % 1440),
                                  max_nudges_per_day=5, max_nudges_per_week=10)


def test_a_nudge_is_held_in_quiet_hours_and_released_after_while_a_fraud_alert_arrives_at_once(
        settings, produce, token):
    app = SERVICE.build(settings)
    with ServiceThread(app, settings) as svc, connect(svc.target, token("C3")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        stub.UpdatePreferences(notify_pb2.UpdatePreferencesRequest(preferences=_quiet_now("C3")))
        nudge = factories.notification("C3", kind=events_pb2.NOTIFICATION_KIND_NUDGE,
                                       priority=events_pb2.PRIORITY_NORMAL, title="Nudge")
        alert = factories.notification("C3", kind=events_pb2.NOTIFICATION_KIND_FRAUD_ALERT, title="Alert")
        _publish(produce, nudge, alert)

        stream = _Stream(svc.target, token("C3"), "C3")
        (first,) = stream.take(1)
        assert first.notification.id == alert.id  # the alert passes at once
        assert stream.nothing_more(1.5)  # the nudge is held
        with app.store.read() as tx:
            state, outcome, release_at = NotifyRepository(tx).held(nudge.id)  # type: ignore[misc]
        assert (state, outcome) == ("held", "held_quiet_hours")
        assert release_at > datetime.now(UTC) + timedelta(minutes=20)

        # the window ends: the gateway's release job runs at that time
        released = svc.call(asyncio.to_thread(release_due, app.store, _hub(svc), _routing(svc),
                                              release_at + timedelta(seconds=1)))
        assert released == 1
        (second,) = stream.take(1)
        assert second.notification.id == nudge.id and second.sequence == first.sequence + 1
        stream.close()


def _hub(svc):
    return svc.app.grpc_services[0].servicer.hub


def _routing(svc):
    return svc.app.runners[0].handler.metrics


def test_customer_a_cannot_subscribe_to_bs_stream(settings, token):
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        stream = _Stream(svc.target, token("A"), "B")
        with pytest.raises(grpc.RpcError) as err:
            stream.take(1)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        stream.close()


BAD_REQUESTS = [
    ("Subscribe", notify_pb2.SubscribeRequest(customer_id=""), "customer_id"),
    ("Subscribe", notify_pb2.SubscribeRequest(customer_id="A", after_sequence=-1), "after_sequence"),
    ("Acknowledge", notify_pb2.AcknowledgeRequest(customer_id="A"), "notification_ids"),
    ("ListNotifications", notify_pb2.ListNotificationsRequest(
        customer_id="A", page=common_pb2.PageRequest(page_size=10_000)), "page.page_size"),
    ("ListNotifications", notify_pb2.ListNotificationsRequest(
        customer_id="A", page=common_pb2.PageRequest(page_token="forged")), "page.page_token"),
    ("GetPreferences", notify_pb2.GetPreferencesRequest(), "customer_id"),
    ("UpdatePreferences", notify_pb2.UpdatePreferencesRequest(), "preferences"),
    ("UpdatePreferences", notify_pb2.UpdatePreferencesRequest(preferences=notify_pb2.Preferences(
        customer_id="A", time_zone="Nowhere/Atlantis")), "preferences.time_zone"),
    ("UpdatePreferences", notify_pb2.UpdatePreferencesRequest(preferences=notify_pb2.Preferences(
        customer_id="A", time_zone="UTC", max_nudges_per_day=1, max_nudges_per_week=1,
        opted_out_kinds=[events_pb2.NOTIFICATION_KIND_FRAUD_ALERT])), "preferences.opted_out_kinds"),
]


def test_bad_requests_get_invalid_argument_naming_the_field(settings, token):
    with ServiceThread(SERVICE.build(settings), settings) as svc, connect(svc.target, token("A")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        for method, request, field in BAD_REQUESTS:
            with pytest.raises(grpc.RpcError) as err:
                reply = getattr(stub, method)(request)
                if method == "Subscribe":
                    next(iter(reply))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
            assert err.value.details().startswith(field), (method, err.value.details())


def test_200_concurrent_subscribers_each_receive_exactly_their_own_notifications(settings, produce, token):
    customers = [f"K{i:03d}" for i in range(200)]
    per_customer = 2
    notes = {c: [factories.notification(c, title=f"{c}-{j}") for j in range(per_customer)] for c in customers}

    async def subscribe_all(target: str) -> dict[str, list[str]]:
        received: dict[str, list[str]] = {c: [] for c in customers}
        ready = 0
        all_ready = asyncio.Event()

        async def one(channel: grpc.aio.Channel, customer: str) -> None:
            nonlocal ready
            stub = notify_pb2_grpc.NotificationServiceStub(channel)
            call = stub.Subscribe(notify_pb2.SubscribeRequest(customer_id=customer),
                                  metadata=auth_metadata(token(customer)))
            ready += 1
            if ready == len(customers):
                all_ready.set()
            async for item in call:
                received[customer].append(item.delivered.notification.id)
                if len(received[customer]) >= per_customer:
                    await asyncio.sleep(0.5)  # linger: anything extra would be a bug
                    call.cancel()
                    return

        async with connect_aio(target) as channel:
            tasks = [asyncio.create_task(one(channel, c)) for c in customers]
            await all_ready.wait()
            await asyncio.sleep(0.5)
            await asyncio.to_thread(_publish, produce, *[n for c in customers for n in notes[c]])
            done, pending = await asyncio.wait(tasks, timeout=60)
            for t in pending:
                t.cancel()
            for t in done:
                if not t.cancelled() and t.exception() and not isinstance(t.exception(), asyncio.CancelledError):
                    raise t.exception()
        return received

    with ServiceThread(SERVICE.build(settings), settings) as svc:
        received = asyncio.run(subscribe_all(svc.target))
    for c in customers:
        assert received[c] == [n.id for n in notes[c]], c
