"""Advisor queues over a real broker and real gRPC: tasks from `advisor-tasks`, claims with leases, queue
membership from the token, WatchQueue as a server stream."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest

from services.advisor.app import SERVICE
from services.gen.proactivecare.v1 import advisor_pb2, advisor_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from services.platform.topics import ADVISOR_TASKS
from tests.integration.conftest import wait_for
from tests.unit.advisor.builders import task


def test_tasks_from_the_stream_are_claimed_once_by_members_of_their_queue(settings, produce, token) -> None:
    with ServiceThread(SERVICE.build(settings), settings) as svc:
        ann = advisor_pb2_grpc.AdvisorQueueServiceStub(
            connect(svc.target, token("ann", "advisor", queues=("financial-support",))))
        bob = advisor_pb2_grpc.AdvisorQueueServiceStub(
            connect(svc.target, token("bob", "advisor", queues=("financial-support",))))
        eve = advisor_pb2_grpc.AdvisorQueueServiceStub(connect(svc.target, token("eve", "advisor",
                                                                                   queues=("wealth",))))
        watched: queue.Queue = queue.Queue()
        watch = ann.WatchQueue(advisor_pb2.WatchQueueRequest(queue="financial-support"))

        def read() -> None:
            try:
                for item in watch:
                    watched.put(item)
            except grpc.RpcError:
                pass  # cancelled at the end of the test

        threading.Thread(target=read, daemon=True).start()

        for t in (task("t-1", value=100_000), task("t-1", value=100_000), task("t-2", value=50_000)):
            produce(ADVISOR_TASKS, t.customer_id, t.SerializeToString())
        assert wait_for(lambda: len(ann.ListQueue(advisor_pb2.ListQueueRequest(queue="financial-support"),
                                                  timeout=5).tasks) == 2, timeout=60)

        first = ann.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support", lease_seconds=60), timeout=10)
        second = bob.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support"), timeout=10)
        assert (first.task.task.id, second.task.task.id) == ("t-1", "t-2")
        assert bob.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support"), timeout=10).empty

        with pytest.raises(grpc.RpcError) as denied:
            eve.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support"), timeout=10)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as not_yours:
            bob.Complete(advisor_pb2.CompleteRequest(task_id="t-1", outcome="CONTACTED"), timeout=10)
        assert not_yours.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as invalid:
            ann.Complete(advisor_pb2.CompleteRequest(task_id="t-1", outcome="SHRUG"), timeout=10)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "outcome" in invalid.value.details()

        done = ann.Complete(advisor_pb2.CompleteRequest(task_id="t-1", outcome="CONTACTED", note="called"),
                            timeout=10).task
        assert done.state == advisor_pb2.TASK_STATE_DONE and done.outcome == "CONTACTED"

        seen = set()
        while True:
            try:
                item = watched.get(timeout=5)
            except queue.Empty:
                break
            seen.add((item.task.task.id, item.task.state))
            if ("t-1", advisor_pb2.TASK_STATE_DONE) in seen:
                break
        watch.cancel()
        assert ("t-1", advisor_pb2.TASK_STATE_DONE) in seen
