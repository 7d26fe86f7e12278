"""AdvisorQueueService: advisors claim the next task of a queue with a lease, complete it with an outcome,
snooze or release it, list and watch their queues. An advisor reaches only the queues its token names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TypeVar

import grpc

from services.advisor.care_effect import CareEffects, care_effect, window_days
from services.advisor.context import RECENT, ContextGatherer
from services.advisor.metrics import AdvisorMetrics
from services.advisor.outcomes import OutcomeOutbox, OutcomeRelay, outcome_event
from services.advisor.policy import QueuePolicy, policy_at
from services.advisor.repository import TaskRepository, TaskRow
from services.advisor.validation import (
    lease_seconds,
    renewed_lease_seconds,
    validate_complete,
    validate_queue_name,
    validate_snooze,
    validate_task_id,
)
from services.gen.proactivecare.v1 import advisor_pb2, advisor_pb2_grpc
from services.platform import auth
from services.platform.clock import utc_now
from services.platform.paging import cut_page, read_page
from services.platform.storage import Store

T = TypeVar("T")

_STATES = {"QUEUED": advisor_pb2.TASK_STATE_QUEUED, "CLAIMED": advisor_pb2.TASK_STATE_CLAIMED,
           "SNOOZED": advisor_pb2.TASK_STATE_SNOOZED,
           "DONE": advisor_pb2.TASK_STATE_DONE}


def to_proto(row: TaskRow) -> advisor_pb2.QueuedTask:
    message = advisor_pb2.QueuedTask(task=row.task, state=_STATES[row.state], priority=row.priority,
                                     claimed_by=row.claimed_by, outcome=row.outcome, sla_breached=row.sla_breached)
    if row.lease_expires_at is not None:
        message.lease_expires_at.FromDatetime(row.lease_expires_at)
    if row.snoozed_until is not None:
        message.snoozed_until.FromDatetime(row.snoozed_until)
    return message


class AdvisorQueueServicer(advisor_pb2_grpc.AdvisorQueueServiceServicer):
    def __init__(self, store: Store, metrics: AdvisorMetrics, clock: Callable[[], datetime] = utc_now,
                 watch_poll_seconds: float = 0.25, context: ContextGatherer | None = None,
                 outcomes: OutcomeRelay | None = None) -> None:
        self.store = store
        self.context = context
        self.outcomes = outcomes
        self.metrics = metrics
        self.clock = clock
        self.watch_poll_seconds = watch_poll_seconds

    def _policy(self) -> QueuePolicy:
        return policy_at(self.clock())

    async def _read(self, action: Callable[[TaskRepository], T]) -> T:
        return await self.store.reading(lambda tx: action(TaskRepository(tx, self.clock)))

    async def _write(self, action: Callable[[TaskRepository], T]) -> T:
        return await self.store.writing(lambda tx: action(TaskRepository(tx, self.clock)))

    async def _member_of_tasks_queue(self, task_id: str) -> auth.Principal:
        """The caller must belong to the task's queue."""
        principal = auth.current_principal()
        auth.require_queue(await self._read(lambda repo: repo.queue_of(task_id)))
        return principal

    async def ClaimNext(self, request: advisor_pb2.ClaimNextRequest, context: grpc.aio.ServicerContext,
                        ) -> advisor_pb2.ClaimNextResponse:
        lease = lease_seconds(request, self._policy())
        principal = auth.require_queue(request.queue)
        row = await self._write(lambda repo: repo.claim_next(request.queue, principal.subject, lease))
        if row is None:
            return advisor_pb2.ClaimNextResponse(empty=True)
        self.metrics.claims.labels(request.queue).inc()
        return advisor_pb2.ClaimNextResponse(task=to_proto(row))

    async def Complete(self, request: advisor_pb2.CompleteRequest, context: grpc.aio.ServicerContext,
                       ) -> advisor_pb2.CompleteResponse:
        validate_complete(request, self._policy())
        principal = await self._member_of_tasks_queue(request.task_id)

        def complete(repo: TaskRepository) -> TaskRow:
            """The completion and its outcome in one transaction (outcomes.py: the outbox)."""
            row = repo.complete(request.task_id, principal.subject, request.outcome, request.note)
            OutcomeOutbox(repo.tx).add(outcome_event(row, principal.subject, repo.clock(), request.option_code))
            return row

        row = await self._write(complete)
        self.metrics.completed.labels(row.task.queue, row.outcome).inc()
        if self.outcomes is not None:  # the services that raised the task learn from what the advisor did
            self.outcomes.wake()
        return advisor_pb2.CompleteResponse(task=to_proto(row))

    async def Snooze(self, request: advisor_pb2.SnoozeRequest, context: grpc.aio.ServicerContext,
                     ) -> advisor_pb2.SnoozeResponse:
        validate_snooze(request, self._policy())
        principal = await self._member_of_tasks_queue(request.task_id)
        row = await self._write(lambda repo: repo.snooze(request.task_id, principal.subject, request.snooze_seconds))
        return advisor_pb2.SnoozeResponse(task=to_proto(row))

    async def Release(self, request: advisor_pb2.ReleaseRequest, context: grpc.aio.ServicerContext,
                      ) -> advisor_pb2.ReleaseResponse:
        validate_task_id(request.task_id)
        principal = await self._member_of_tasks_queue(request.task_id)
        row = await self._write(lambda repo: repo.release(request.task_id, principal.subject))
        return advisor_pb2.ReleaseResponse(task=to_proto(row))

    async def ListQueue(self, request: advisor_pb2.ListQueueRequest, context: grpc.aio.ServicerContext,
                        ) -> advisor_pb2.ListQueueResponse:
        validate_queue_name(request.queue)
        policy = self._policy()
        offset, size = read_page(request.page, default_size=policy.default_page_size, max_size=policy.max_page_size)
        auth.require_queue(request.queue)
        rows = await self._read(lambda repo: repo.list_queue(request.queue, offset, size + 1))
        rows, page = cut_page(rows, offset, size)
        return advisor_pb2.ListQueueResponse(tasks=[to_proto(r) for r in rows], page=page)

    async def WatchQueue(self, request: advisor_pb2.WatchQueueRequest, context: grpc.aio.ServicerContext,
                         ) -> AsyncIterator[advisor_pb2.WatchQueueResponse]:
        """The open tasks now, then every change to the queue as it happens (until the caller hangs up)."""
        validate_queue_name(request.queue)
        auth.require_queue(request.queue)
        seq = await self._read(TaskRepository.last_change)
        policy = self._policy()
        offset = 0
        while True:
            rows = await self._read(lambda repo, at=offset: repo.list_queue(request.queue, at, policy.max_page_size))
            for row in rows:
                yield advisor_pb2.WatchQueueResponse(task=to_proto(row))
            if len(rows) < policy.max_page_size:
                break
            offset += len(rows)
        while True:
            changes = await self._read(lambda repo, after=seq: repo.changes_since(request.queue, after))
            for change_seq, row in changes:
                yield advisor_pb2.WatchQueueResponse(task=to_proto(row))
                seq = change_seq  # the next poll starts after the last change sent
            if not changes:
                await asyncio.sleep(self.watch_poll_seconds)


    async def GetTaskContext(self, request: advisor_pb2.GetTaskContextRequest, context: grpc.aio.ServicerContext,
                             ) -> advisor_pb2.GetTaskContextResponse:
        validate_task_id(request.task_id)
        await self._member_of_tasks_queue(request.task_id)
        task = to_proto(await self._read(lambda repo: repo.get(request.task_id)))
        if self.context is None:
            response = advisor_pb2.GetTaskContextResponse(task=task, unavailable=["customer history: not configured"])
        else:
            response = await self.context.gather(task, _bearer(context))
        customer = task.task.customer_id
        response.earlier_outcomes.extend(await self.store.reading(
            lambda tx: OutcomeOutbox(tx).of_customer(customer, RECENT)))
        response.follow_ups.extend(await self.store.reading(lambda tx: CareEffects(tx).of_customer(customer, RECENT)))
        return response

    async def GetCareEffect(self, request: advisor_pb2.GetCareEffectRequest, context: grpc.aio.ServicerContext,
                            ) -> advisor_pb2.GetCareEffectResponse:
        days = window_days(request)
        now = self.clock()
        return await self.store.reading(lambda tx: care_effect(tx, days, now))

    async def RenewLease(self, request: advisor_pb2.RenewLeaseRequest, context: grpc.aio.ServicerContext,
                         ) -> advisor_pb2.RenewLeaseResponse:
        lease = renewed_lease_seconds(request, self._policy())
        principal = await self._member_of_tasks_queue(request.task_id)
        row = await self._write(lambda repo: repo.renew(request.task_id, principal.subject, lease))
        return advisor_pb2.RenewLeaseResponse(task=to_proto(row))


def _bearer(context: grpc.aio.ServicerContext) -> str:
    """The caller's own token (already verified by the bootstrap), to read the other services on its authority."""
    header = dict(context.invocation_metadata() or ()).get("authorization", "")
    return header[7:].strip() if isinstance(header, str) and header.lower().startswith("bearer ") else ""

