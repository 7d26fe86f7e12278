"""Another customer's data, on every RPC that takes a customer: refused. An object looked up by id that belongs
to someone else is answered exactly like one that does not exist (ids cannot be probed)."""

from __future__ import annotations

import time

import grpc
import pytest

from services.advice.app import SERVICE as ADVICE
from services.advisor.app import SERVICE as ADVISOR
from services.gen.proactivecare.v1 import (
    advice_pb2,
    advice_pb2_grpc,
    advisor_pb2,
    advisor_pb2_grpc,
    fraud_pb2,
    fraud_pb2_grpc,
    mortgage_pb2,
    mortgage_pb2_grpc,
    notify_pb2,
    notify_pb2_grpc,
)
from services.mortgage.app import SERVICE as MORTGAGE
from services.notify.app import SERVICE as NOTIFY
from services.platform.app import ServiceThread
from services.platform.client import connect
from tests.security.fraud_stub import fraud_app, records, run
from tests.unit.fraud.builders import card_payment, usual_history

DENIED, NOT_FOUND = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _code(call) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def test_notify_refuses_another_customers_data(settings, token):
    with ServiceThread(NOTIFY.build(settings), settings) as svc, connect(svc.target, token("A")) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        calls = {
            "Subscribe": lambda: next(iter(stub.Subscribe(notify_pb2.SubscribeRequest(customer_id="B"), timeout=10))),
            "Acknowledge": lambda: stub.Acknowledge(notify_pb2.AcknowledgeRequest(customer_id="B",
                                                                                  notification_ids=["n1"]), timeout=10),
            "ListNotifications": lambda: stub.ListNotifications(notify_pb2.ListNotificationsRequest(customer_id="B"),
                                                                timeout=10),
            "GetPreferences": lambda: stub.GetPreferences(notify_pb2.GetPreferencesRequest(customer_id="B"),
                                                          timeout=10),
            "UpdatePreferences": lambda: stub.UpdatePreferences(notify_pb2.UpdatePreferencesRequest(
                preferences=notify_pb2.Preferences(customer_id="B", time_zone="Europe/London",
                                                   max_nudges_per_day=1, max_nudges_per_week=3)), timeout=10),
        }
        for name, call in calls.items():
            assert _code(call)[0] == DENIED, name


def test_advice_refuses_another_customers_nudges(settings, token):
    with ServiceThread(ADVICE.build(settings), settings) as svc, connect(svc.target, token("A")) as channel:
        stub = advice_pb2_grpc.AdviceServiceStub(channel)
        assert _code(lambda: stub.ListNudges(advice_pb2.ListNudgesRequest(customer_id="B"), timeout=10))[0] == DENIED
        code, _ = _code(lambda: stub.RespondToNudge(advice_pb2.RespondToNudgeRequest(
            nudge_id="nudge-of-nobody", response=advice_pb2.NUDGE_RESPONSE_HELPFUL), timeout=10))
        assert code == NOT_FOUND


def test_mortgage_refuses_another_customers_care_options(settings, token):
    with ServiceThread(MORTGAGE.build(settings), settings) as svc, connect(svc.target, token("A")) as channel:
        stub = mortgage_pb2_grpc.MortgageServiceStub(channel)
        assert _code(lambda: stub.GetCareOptions(mortgage_pb2.GetCareOptionsRequest(customer_id="B"),
                                                 timeout=10))[0] == DENIED


def test_an_advisor_reaches_only_its_queues(settings, token):
    with ServiceThread(ADVISOR.build(settings), settings) as svc, \
            connect(svc.target, token("ann", "advisor", queues=("wealth",))) as channel:
        stub = advisor_pb2_grpc.AdvisorQueueServiceStub(channel)
        calls = {
            "ListQueue": lambda: stub.ListQueue(advisor_pb2.ListQueueRequest(queue="financial-support"), timeout=10),
            "ClaimNext": lambda: stub.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support"), timeout=10),
            "WatchQueue": lambda: next(iter(stub.WatchQueue(advisor_pb2.WatchQueueRequest(queue="financial-support"),
                                                            timeout=10))),
        }
        for name, call in calls.items():
            assert _code(call)[0] == DENIED, name


def test_fraud_answers_another_customers_alert_like_a_missing_one(settings, token):
    app, handler = fraud_app(settings)
    now = time.time()
    run(handler, records(usual_history("B", now - 60)))
    assert run(handler, records([card_payment("bx", "B", 16_000, "T-X", now)]))  # alert fa-bx of customer B
    with ServiceThread(app, settings) as svc, connect(svc.target, token("A")) as channel:
        stub = fraud_pb2_grpc.FraudServiceStub(channel)
        for name, make in {
            "GetAlert": lambda alert_id: lambda: stub.GetAlert(fraud_pb2.GetAlertRequest(alert_id=alert_id),
                                                               timeout=10),
            "ResolveAlert": lambda alert_id: lambda: stub.ResolveAlert(
                fraud_pb2.ResolveAlertRequest(alert_id=alert_id, confirmed_fraud=True), timeout=10),
        }.items():
            theirs, missing = _code(make("fa-bx")), _code(make("fa-nothing"))
            assert theirs == missing == (NOT_FOUND, "no such alert"), name
        assert _code(lambda: stub.ListAlerts(fraud_pb2.ListAlertsRequest(customer_id="B"), timeout=10))[0] == DENIED
        assert _code(lambda: stub.UnfreezeCard(fraud_pb2.UnfreezeCardRequest(customer_id="B", card_token="card-B"),
                                               timeout=10))[0] == DENIED
        # B's own view is untouched
        own = fraud_pb2_grpc.FraudServiceStub(connect(svc.target, token("B")))
        seen = own.GetAlert(fraud_pb2.GetAlertRequest(alert_id="fa-bx"), timeout=10).alert
        assert seen.status == fraud_pb2.ALERT_STATUS_OPEN
