"""Two advisor replicas on one PostgreSQL: 100 concurrent ClaimNext calls over real gRPC, spread over both.

Each replica is a whole advisor service (`SERVICE.build(settings)`) with its own Store (its own connection pool) on the
same database schema. 80 tasks wait; 100 advisors ask at once, half of them at each replica: every task is
claimed exactly once (none twice, none lost), and the other 20 calls come back empty.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.advisor.app import SERVICE
from services.advisor.repository import TaskRepository
from services.gen.proactivecare.v1 import advisor_pb2, advisor_pb2_grpc
from services.platform.app import ServiceThread
from services.platform.client import connect
from tests.unit.advisor.builders import task

QUEUE = "financial-support"
TASKS, CALLS = 80, 100


@pytest.mark.parametrize("backend", ["postgresql"])
def test_100_concurrent_claims_over_two_replicas_take_every_task_exactly_once(settings, token) -> None:
    replicas = [SERVICE.build(settings), SERVICE.build(settings)]
    with replicas[0].store.transaction() as tx:
        for i in range(TASKS):
            TaskRepository(tx).add(task(f"t{i:03d}", value=1_000 * (i + 1)))

    with ServiceThread(replicas[0], settings) as a, ServiceThread(replicas[1], settings) as b:
        targets = [a.target, b.target]

        def claim(n: int) -> tuple[str, str]:
            advisor = f"advisor-{n}"
            with connect(targets[n % 2], token(advisor, "advisor", queues=(QUEUE,))) as channel:
                reply = advisor_pb2_grpc.AdvisorQueueServiceStub(channel).ClaimNext(
                    advisor_pb2.ClaimNextRequest(queue=QUEUE), timeout=60)
            return advisor, "" if reply.empty else reply.task.task.id

        with ThreadPoolExecutor(CALLS) as pool:
            results = list(pool.map(claim, range(CALLS)))

    taken = [task_id for _, task_id in results if task_id]
    assert len(taken) == TASKS and len(set(taken)) == TASKS  # none claimed twice
    assert set(taken) == {f"t{i:03d}" for i in range(TASKS)}  # none lost
    with replicas[1].store.read() as tx:
        holders = {row.task.id: row.claimed_by for row in TaskRepository(tx).list_queue(QUEUE, 0, 200)}
    assert holders == {task_id: advisor for advisor, task_id in results if task_id}
