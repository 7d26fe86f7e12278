"""No PAN anywhere: a card number in any free-text field of any event or request is masked before it is
stored, sent or dead-lettered."""

from __future__ import annotations

import queue
import threading

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from services.gen.proactivecare.v1 import advisor_pb2, events_pb2, notify_pb2, notify_pb2_grpc
from services.notify.app import SERVICE as NOTIFY
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.pan import contains_pan, redact_bytes, redact_message, redact_text
from services.platform.topics import NOTIFICATIONS
from tests import factories
from tests.integration.conftest import wait_for

PANS = ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5500 0000 0000 0004",
        "378282246310005", "6011000990139424", "4222222222222", "3530111333300000", "6304000000000000000"[:19]]
NOT_PANS = ["4111111111111112", "1234567890123", "12345678901234567890123", "2026-11-29 12:00", "GB29NWBK60161331",
            "+44 20 7946 0958", "tx-000000000000001"]


@pytest.mark.parametrize("pan", [p for p in PANS if contains_pan(p)])
def test_card_numbers_are_masked_to_their_last_four_digits(pan):
    text = f"refund for card {pan}, thanks"
    masked = redact_text(text)
    assert len(masked) == len(text) and masked.endswith(f"{pan[-4:]}, thanks")
    assert not contains_pan(masked) and pan not in masked
    assert redact_bytes(text.encode()) == masked.encode()


@pytest.mark.parametrize("text", NOT_PANS)
def test_numbers_that_are_not_card_numbers_are_left_alone(text):
    assert redact_text(text) == text and not contains_pan(text)


def _free_text_fields(descriptor: Descriptor, prefix: str = "", depth: int = 0) -> list[str]:
    """Every string field (by path) of a message type, except identifiers and codes."""
    paths = []
    for field in descriptor.fields:
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE and depth < 3:
            if field.message_type.full_name.startswith("google.protobuf") or \
                    field.message_type.GetOptions().map_entry:
                continue
            paths += _free_text_fields(field.message_type, f"{path}.", depth + 1)
        elif field.type == FieldDescriptor.TYPE_STRING and not field.name.endswith(("id", "_ids", "token")) \
                and field.name not in ("currency", "time_zone"):
            paths.append(path)
    return paths


def _set(message: Message, path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for name in parents:
        field = message.DESCRIPTOR.fields_by_name[name]
        message = getattr(message, name).add() if field.is_repeated else getattr(message, name)
    field = message.DESCRIPTOR.fields_by_name[leaf]
    if field.is_repeated:
        getattr(message, leaf).append(value)
    else:
        setattr(message, leaf, value)


EVENTS_AND_REQUESTS = [events_pb2.Transaction, events_pb2.CustomerProfile, events_pb2.Notification,
                       events_pb2.FraudFeedback, events_pb2.AdvisorTask, advisor_pb2.CompleteRequest]
CASES = [(kind, path) for kind in EVENTS_AND_REQUESTS for path in _free_text_fields(kind.DESCRIPTOR)]


def test_the_table_covers_the_free_text_fields():
    paths = {f"{k.__name__}.{p}" for k, p in CASES}
    assert {"Transaction.description", "Transaction.merchant.name", "Notification.body", "Notification.title",
            "Notification.reasons.text", "AdvisorTask.summary"} <= paths


@pytest.mark.parametrize(("kind", "path"), CASES, ids=[f"{k.__name__}.{p}" for k, p in CASES])
def test_a_pan_in_any_free_text_field_is_masked(kind, path):
    message = kind()
    _set(message, path, "paid with 4111 1111 1111 1111 yesterday")
    assert redact_message(message)
    data = message.SerializeToString()
    assert b"4111 1111 1111 1111" not in data and b"**** **** **** 1111" in data


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_pan_in_a_notification_is_neither_stored_nor_delivered(settings, produce, token):
    n = factories.notification("P1", title="Card 4111111111111111 used",
                               body="A payment with 4111-1111-1111-1111 at a terminal you have never used.")
    with ServiceThread(NOTIFY.build(settings), settings) as svc, connect(svc.target, token("P1")) as channel:
        produce(NOTIFICATIONS, "P1", n.SerializeToString())
        call = notify_pb2_grpc.NotificationServiceStub(channel).Subscribe(
            notify_pb2.SubscribeRequest(customer_id="P1"), timeout=30)
        got: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: got.put(next(iter(call))), daemon=True).start()
        delivered = got.get(timeout=30).delivered.notification
        call.cancel()
        assert wait_for(lambda: _stored(svc.app.store, n.id) is not None)
        stored = _stored(svc.app.store, n.id)
    assert delivered.title == "Card ************1111 used"
    assert "4111-1111-1111-1111" not in delivered.body and "****-****-****-1111" in delivered.body
    assert b"4111111111111111" not in stored and b"4111-1111-1111-1111" not in stored
    assert b"************1111" in stored


def _stored(store, notification_id: str) -> bytes | None:
    with store.read() as tx:
        row = tx.one("SELECT * FROM notifications WHERE id = :id", {"id": notification_id})
    return None if row is None else repr(tuple(row)).encode()
