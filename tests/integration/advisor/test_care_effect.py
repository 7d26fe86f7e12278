"""Did the care work? Over the real broker and real gRPC: the advisor service keeps the follow-ups other services
publish to `care-followups` (each once; a bad one dead-lettered with its reason), GetCareEffect gives advisors the
figures per kind in plain words, and a case shows what became of the customer's warnings and their earlier
outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.advisor.app import SERVICE
from services.gen.proactivecare.v1 import advisor_pb2, advisor_pb2_grpc, events_pb2
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import ADVISOR_TASKS, CARE_FOLLOWUPS, dlq
from tests.integration.conftest import read_topic, wait_for
from tests.unit.advisor.builders import task

AVOIDED, HAPPENED = events_pb2.FOLLOW_UP_OUTCOME_AVOIDED, events_pb2.FOLLOW_UP_OUTCOME_HAPPENED
NOT_APPLICABLE = events_pb2.FOLLOW_UP_OUTCOME_NOT_APPLICABLE


def followup(fid: str, kind: str, outcome: int, days_ago: float, customer: str = "c-1") -> events_pb2.CareFollowUp:
    event = events_pb2.CareFollowUp(id=fid, customer_id=customer, kind=kind, source="advice", outcome=outcome)
    closed = datetime.now(UTC) - timedelta(days=days_ago)
    event.opened_at.FromDatetime(closed - timedelta(days=3))
    event.closed_at.FromDatetime(closed)
    return event


def test_care_effect_figures_and_the_customers_follow_ups(settings, produce, token, monkeypatch):
    for service in ("fraud", "advice", "notify", "mortgage"):
        monkeypatch.setenv(f"{service.upper()}_TARGET", "127.0.0.1:1")
    events = [followup("s-1", "shortfall_warning", AVOIDED, 1), followup("s-2", "shortfall_warning", AVOIDED, 2,
                                                                          "c-2"),
              followup("s-3", "shortfall_warning", HAPPENED, 3, "c-3"),
              followup("s-1", "shortfall_warning", AVOIDED, 1),              # redelivered: counted once
              followup("f-1", "fraud_alert", NOT_APPLICABLE, 1),
              followup("o-1", "care_offer", HAPPENED, 100)]                  # outside the default 30 days
    bad = followup("x-1", "horoscope", AVOIDED, 1)
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        for event in [*events, bad]:
            produce(CARE_FOLLOWUPS, event.customer_id, event.SerializeToString())
        ann = advisor_pb2_grpc.AdvisorQueueServiceStub(
            connect(svc.target, token("ann", "advisor", queues=("financial-support",))))

        def effect(days: int = 0) -> advisor_pb2.GetCareEffectResponse:
            return ann.GetCareEffect(advisor_pb2.GetCareEffectRequest(window_days=days), timeout=10)

        assert wait_for(lambda: sum(e.avoided + e.happened for e in effect(366).effects) == 4, timeout=60)
        got = effect()
        assert got.window_days == 30
        assert [(e.kind, e.avoided, e.happened, e.not_applicable) for e in got.effects] == [
            ("shortfall_warning", 2, 1, 0), ("fraud_alert", 0, 0, 1)]
        assert got.effects[0].text == "Shortfall warnings: 67% of warned customers avoided the overdraft (2 of 3)"
        assert got.effects[1].text == "Fraud alerts: no outcome known yet"
        assert [e.kind for e in effect(366).effects] == ["shortfall_warning", "care_offer", "fraud_alert"]

        dead = read_topic(settings, dlq(CARE_FOLLOWUPS), expect=1, timeout=60)
        assert len(dead) == 1 and dict(dead[0].headers)["dlq.reason"] == b"invalid_kind"

        for days in (-1, 367):
            with pytest.raises(grpc.RpcError) as refused:
                effect(days)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "window_days" in refused.value.details()
        customer = advisor_pb2_grpc.AdvisorQueueServiceStub(connect(svc.target, token("c-1", "customer")))
        with pytest.raises(grpc.RpcError) as denied:
            customer.GetCareEffect(advisor_pb2.GetCareEffectRequest(), timeout=10)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # the case view: what became of c-1's warnings, and the outcome of an earlier task
        for raised in (task("t-early"), task("t-now")):
            produce(ADVISOR_TASKS, raised.customer_id, raised.SerializeToString())
        assert wait_for(lambda: len(ann.ListQueue(advisor_pb2.ListQueueRequest(queue="financial-support"),
                                                  timeout=5).tasks) == 2, timeout=60)
        first = ann.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support"), timeout=10).task.task.id
        ann.Complete(advisor_pb2.CompleteRequest(task_id=first, outcome="CONTACTED", note="called"), timeout=10)
        other = "t-now" if first == "t-early" else "t-early"
        case = ann.GetTaskContext(advisor_pb2.GetTaskContextRequest(task_id=other), timeout=30)
        assert [(o.task_id, o.outcome, o.advisor) for o in case.earlier_outcomes] == [(first, "CONTACTED", "ann")]
        assert [(f.id, f.outcome) for f in case.follow_ups] == [("f-1", NOT_APPLICABLE), ("s-1", AVOIDED),
                                                                ("o-1", HAPPENED)]
