"""The advice service over a real broker and real gRPC: transactions in, a nudge notification out, the nudge
listed and answered through AdviceService."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from services.advice.app import SERVICE
from services.gen.proactivecare.v1 import advice_pb2, advice_pb2_grpc, common_pb2, events_pb2
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import CUSTOMERS, NOTIFICATIONS, TRANSACTIONS
from tests.integration.conftest import read_topic, wait_for
from tests.stores import rows
from tests.unit.advice.test_service_and_worker import transaction


def _profile(customer: str) -> events_pb2.CustomerProfile:
    profile = events_pb2.CustomerProfile(customer_id=customer, segment="mass", payday=28,
                                         monthly_income=common_pb2.Money(amount_minor=250_000, currency="GBP"))
    profile.products.add(id="acc-1", type=events_pb2.PRODUCT_TYPE_CURRENT_ACCOUNT)
    return profile


def _price_rise(produce, customer: str) -> None:
    produce(CUSTOMERS, customer, _profile(customer).SerializeToString())
    for i, (amount, month) in enumerate([(1099, 1), (1099, 2), (1099, 3), (1299, 4)]):
        tx = transaction(f"{customer}-bk{i}", datetime(2026, month, 5, 4, tzinfo=UTC), amount, 150_000 - i * 1500,
                         customer=customer)
        produce(TRANSACTIONS, customer, tx.SerializeToString())


def test_a_price_rise_on_the_stream_becomes_one_nudge_notification_then_listed_and_answered(
        settings, produce, token) -> None:
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        _price_rise(produce, "C7")
        _price_rise(produce, "C7")  # redelivered: the same events again change nothing
        notes = read_topic(settings, NOTIFICATIONS, expect=1, timeout=60)
        notifications = [events_pb2.Notification.FromString(r.value) for r in notes]
        # the redelivered event re-produces its stored output: the same notification id, which the gateway
        # dedupes; no second nudge is ever made
        assert len({n.id for n in notifications}) == 1
        note = notifications[0]
        assert note.kind == events_pb2.NOTIFICATION_KIND_NUDGE and note.customer_id == "C7"
        assert (note.data["old_amount_minor"], note.data["new_amount_minor"]) == ("1099", "1299")

        stub = advice_pb2_grpc.AdviceServiceStub(connect(svc.target, token("C7")))
        listed = stub.ListNudges(advice_pb2.ListNudgesRequest(customer_id="C7"), timeout=10)
        assert [n.id for n in listed.nudges] == [note.source_id]
        answered = stub.RespondToNudge(advice_pb2.RespondToNudgeRequest(
            nudge_id=note.source_id, response=advice_pb2.NUDGE_RESPONSE_HELPFUL), timeout=10).nudge
        assert answered.response == advice_pb2.NUDGE_RESPONSE_HELPFUL

        with pytest.raises(grpc.RpcError) as denied:
            advice_pb2_grpc.AdviceServiceStub(connect(svc.target, token("C8"))).ListNudges(
                advice_pb2.ListNudgesRequest(customer_id="C7"), timeout=10)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        with pytest.raises(grpc.RpcError) as invalid:
            stub.RespondToNudge(advice_pb2.RespondToNudgeRequest(nudge_id=note.source_id), timeout=10)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "response" in (invalid.value.details() or "")


def test_a_bad_transaction_goes_to_the_dead_letter_topic_and_the_worker_goes_on(settings, produce) -> None:
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        bad = transaction("", datetime(2026, 1, 5, tzinfo=UTC), 100, 1000, customer="C9")
        produce(TRANSACTIONS, "C9", bad.SerializeToString())
        _price_rise(produce, "C9")
        dead = read_topic(settings, f"{TRANSACTIONS}.dlq", expect=1, timeout=60)
        assert len(dead) == 1 and dict(dead[0].headers)["dlq.reason"] == b"missing_id"
        assert wait_for(lambda: len(rows(svc.app.store, "SELECT id FROM advice_nudges")) == 1, timeout=60)
