"""No database call runs on a service's event loop: a write held for 2 s delays only the RPC that needs it.

The test holds, in its own transaction, an uncommitted write of customer C1's preferences (on SQLite the
database's write lock; on PostgreSQL that row's lock) for 2 s. Meanwhile the notify service takes an
UpdatePreferences for C1 (which must wait for the lock), a health check and a ListNotifications: the last two
complete while the write is still held, and the waiting update completes only after it is released.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gen.proactivecare.v1 import notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE
from services.notify.policy import default_preferences
from services.notify.repository import NotifyRepository
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.clock import utc_now
from tests.integration.conftest import wait_for

HOLD_SECONDS = 2.0


def test_a_held_write_does_not_delay_a_health_check_or_another_rpc(settings, token) -> None:
    app = SERVICE.build(settings)
    held, released = threading.Event(), threading.Event()

    def hold_a_write() -> None:
        with app.store.transaction() as tx:
            NotifyRepository(tx).save_preferences(default_preferences("C1", "Europe/London"), utc_now())
            held.set()
            time.sleep(HOLD_SECONDS)
            released.set()

    with ServiceThread(app, settings) as svc, connect(svc.target, token("C1")) as channel, \
            ThreadPoolExecutor(4) as pool:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        holder = pool.submit(hold_a_write)
        assert held.wait(10)
        update = pool.submit(stub.UpdatePreferences, notify_pb2.UpdatePreferencesRequest(
            preferences=default_preferences("C1", "Europe/Paris")), timeout=30)
        time.sleep(0.2)  # the update is now waiting for the lock, inside the service
        assert not update.done()
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=HOLD_SECONDS / 2)
        listed = stub.ListNotifications(notify_pb2.ListNotificationsRequest(customer_id="C1"),
                                        timeout=HOLD_SECONDS / 2)
        assert not released.is_set()  # both answered while the write was still held
        assert status.status == health_pb2.HealthCheckResponse.SERVING and list(listed.notifications) == []
        assert update.result(timeout=30).preferences.time_zone == "Europe/Paris"
        assert released.is_set()  # the update could finish only after the held write
        holder.result()
        assert wait_for(lambda: stub.GetPreferences(
            notify_pb2.GetPreferencesRequest(customer_id="C1")).preferences.time_zone == "Europe/Paris")
