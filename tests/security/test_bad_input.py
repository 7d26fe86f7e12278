"""Bad input never poisons state: future or ancient event times, tombstones, unknown time zones and forged
page tokens are refused with a clear reason, and everything else keeps flowing."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import grpc
import pytest
from prometheus_client import CollectorRegistry

from services.gen.proactivecare.v1 import common_pb2, events_pb2, notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE as NOTIFY
from services.notify.policy import Outcome
from services.notify.repository import MIGRATIONS as NOTIFY_MIGRATIONS
from services.notify.repository import NotifyRepository
from services.notify.routing import route
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.errors import ValidationError
from services.platform.kafka_io import make_producer
from services.platform.paging import read_keyset, read_page
from services.platform.topics import TRANSACTIONS, dlq
from services.platform.validation import validate_customer_profile
from tests import factories
from tests.integration.conftest import read_topic, wait_for
from tests.integration.platform.ledger import build_runner

YEAR = 365 * 86_400


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("token", ["\u00b2", "!!!", _b64("o:\u0663"), _b64("o:1_0"), _b64("o: 5"), _b64("o:-1"),
                                   _b64("o:" + "9" * 30), _b64("x:5"), _b64("o:"), _b64("k:"), _b64("k:-3"), "bzo",
                                   "\u00e9t\u00e9"])
@pytest.mark.parametrize("reader", [read_page, read_keyset])
def test_every_bad_page_token_is_invalid_argument(token, reader):
    with pytest.raises(ValidationError) as err:
        reader(common_pb2.PageRequest(page_token=token))
    assert err.value.field == "page.page_token"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_bad_page_token_over_grpc_is_invalid_argument(settings, token):
    with ServiceThread(NOTIFY.build(settings), settings) as svc, connect(svc.target, token("A")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        for bad in ["\u00b2", "17", _b64("k:" + "9" * 30), _b64("k:\u0663"), _b64("o:5")]:
            with pytest.raises(grpc.RpcError) as err:
                stub.ListNotifications(notify_pb2.ListNotificationsRequest(
                    customer_id="A", page=common_pb2.PageRequest(page_token=bad)), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad


@pytest.mark.parametrize("zone", ["Mars/Base", "../../etc/passwd", "/etc/localtime", "Europe", "", "x" * 300])
def test_unknown_time_zones_are_refused_when_the_profile_arrives(zone):
    profile = events_pb2.CustomerProfile(customer_id="C1", time_zone=zone)
    if not zone:
        validate_customer_profile(profile)  # no zone: the default applies
        return
    with pytest.raises(ValidationError) as err:
        validate_customer_profile(profile)
    assert err.value.reason == "unknown_time_zone"


def test_a_bad_stored_zone_never_stops_an_urgent_alert(open_store):
    """A zone that slipped in before the check (an older release) still routes a fraud alert at once."""
    store = open_store("notify")
    store.migrate(NOTIFY_MIGRATIONS)
    alert = factories.notification("Z1", kind=events_pb2.NOTIFICATION_KIND_FRAUD_ALERT)
    nudge = factories.notification("Z1", kind=events_pb2.NOTIFICATION_KIND_NUDGE, priority=events_pb2.PRIORITY_NORMAL)
    now = datetime.now(UTC)
    with store.transaction() as tx:
        repo = NotifyRepository(tx)
        repo.save_time_zone("Z1", "Mars/Base")
        for n in (alert, nudge):
            assert repo.insert(n, now, None)
        assert route(repo, alert, now).outcome == Outcome.DELIVER
        route(repo, nudge, now)  # routed by the default zone's rules, not an exception


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_future_ancient_and_tombstone_records_are_dead_lettered_with_their_reason(settings):
    now = time.time()
    future, ancient, good = factories.transaction(), factories.transaction(), factories.transaction()
    future.timestamp.FromSeconds(int(now + 10 * YEAR))
    ancient.timestamp.FromSeconds(int(datetime(1999, 12, 31, tzinfo=UTC).timestamp()))
    producer = make_producer(settings)
    for value in (future.SerializeToString(), ancient.SerializeToString(), None, good.SerializeToString()):
        producer.send(settings.topic(TRANSACTIONS), key=b"C1", value=value)
    producer.flush()
    producer.close()
    runner, store = build_runner(settings, CollectorRegistry())
    runner.start()
    try:
        dead = read_topic(settings, dlq(TRANSACTIONS), expect=3)
        assert wait_for(lambda: _effects(store) == [good.id])
    finally:
        runner.stop()
        runner.join(30)
    reasons = {k: v.decode() for r in dead for k, v in r.headers if k == "dlq.reason"}
    assert sorted(dict(r.headers)["dlq.reason"].decode() for r in dead) == sorted(
        ["future_event_time", "event_time_before_floor", "tombstone"]), reasons
    assert _effects(store) == [good.id]  # the good record after them was handled; nothing else was


def _effects(store) -> list[str]:
    with store.read() as tx:
        return [r[0] for r in tx.all("SELECT event_id FROM effects")]
