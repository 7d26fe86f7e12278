"""GetTaskContext and RenewLease over real gRPC: only members of the task's queue read a case; a source that
cannot be read is named and the rest still answered; only the holder renews a lease."""

from __future__ import annotations

import grpc
import pytest

from services.advisor.app import SERVICE
from services.gen.proactivecare.v1 import advisor_pb2, advisor_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import ADVISOR_TASKS
from tests.integration.conftest import wait_for
from tests.unit.advisor.builders import task


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_case_is_read_by_its_queue_and_its_lease_renewed_by_its_holder(settings, produce, token, monkeypatch):
    for service in ("fraud", "advice", "notify", "mortgage"):  # nothing listens there: every source unavailable
        monkeypatch.setenv(f"{service.upper()}_TARGET", "127.0.0.1:1")
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        ann = advisor_pb2_grpc.AdvisorQueueServiceStub(
            connect(svc.target, token("ann", "advisor", queues=("financial-support",))))
        bob = advisor_pb2_grpc.AdvisorQueueServiceStub(
            connect(svc.target, token("bob", "advisor", queues=("financial-support",))))
        eve = advisor_pb2_grpc.AdvisorQueueServiceStub(connect(svc.target, token("eve", "advisor",
                                                                                   queues=("wealth",))))
        raised = task("ctx-1")
        raised.reasons.add(code="REPEATED_SHORTFALL", text="Two shortfalls in 90 days")
        produce(ADVISOR_TASKS, raised.customer_id, raised.SerializeToString())
        assert wait_for(lambda: ann.ListQueue(advisor_pb2.ListQueueRequest(queue="financial-support"),
                                              timeout=5).tasks, timeout=60)

        case = ann.GetTaskContext(advisor_pb2.GetTaskContextRequest(task_id="ctx-1"), timeout=30)
        assert case.task.task.summary == "two shortfalls in 90 days"
        assert [r.code for r in case.task.task.reasons] == ["REPEATED_SHORTFALL"]
        assert sorted(u.split(":")[0] for u in case.unavailable) == ["advice", "fraud", "notify"]  # not mortgage's
        with pytest.raises(grpc.RpcError) as denied:
            eve.GetTaskContext(advisor_pb2.GetTaskContextRequest(task_id="ctx-1"), timeout=10)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        claimed = ann.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support", lease_seconds=60),
                                timeout=10).task
        renewed = ann.RenewLease(advisor_pb2.RenewLeaseRequest(task_id="ctx-1", lease_seconds=600), timeout=10).task
        assert renewed.lease_expires_at.ToDatetime() > claimed.lease_expires_at.ToDatetime()
        with pytest.raises(grpc.RpcError) as not_holder:
            bob.RenewLease(advisor_pb2.RenewLeaseRequest(task_id="ctx-1"), timeout=10)
        assert not_holder.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as too_long:
            ann.RenewLease(advisor_pb2.RenewLeaseRequest(task_id="ctx-1", lease_seconds=99_999), timeout=10)
        assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
