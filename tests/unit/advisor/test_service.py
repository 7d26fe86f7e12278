from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.advisor.metrics import AdvisorMetrics
from services.advisor.repository import MIGRATIONS, TaskRepository
from services.advisor.service import AdvisorQueueServicer
from services.gen.proactivecare.v1 import advisor_pb2, common_pb2
from services.platform import auth
from services.platform.errors import PermissionDeniedError, ValidationError
from services.platform.storage import Store
from tests.unit.advisor.builders import Clock, task


@pytest.fixture
def servicer(open_store: Callable[[str], Store]) -> AdvisorQueueServicer:
    store = open_store("advisor")
    store.migrate(MIGRATIONS)
    clock = Clock()
    with store.transaction() as tx:
        TaskRepository(tx, clock).add(task("fs-1", queue="financial-support"))
        TaskRepository(tx, clock).add(task("w-1", queue="wealth"))
    return AdvisorQueueServicer(store, AdvisorMetrics.create(CollectorRegistry()), clock)


@pytest.fixture
def as_advisor() -> Iterator[Any]:
    tokens = []

    def login(name: str, *queues: str) -> None:
        tokens.append(auth.set_principal(auth.Principal(name, auth.Role.ADVISOR, frozenset(queues))))

    yield login
    for t in reversed(tokens):
        auth.reset_principal(t)


def call(coro: Any) -> Any:
    return asyncio.run(coro)


def test_an_advisor_cannot_claim_from_a_queue_it_does_not_belong_to(servicer: AdvisorQueueServicer,
                                                                     as_advisor: Any) -> None:
    as_advisor("ann", "financial-support")
    with pytest.raises(PermissionDeniedError):
        call(servicer.ClaimNext(advisor_pb2.ClaimNextRequest(queue="wealth"), None))
    claimed = call(servicer.ClaimNext(advisor_pb2.ClaimNextRequest(queue="financial-support"), None))
    assert claimed.task.task.id == "fs-1" and claimed.task.claimed_by == "ann"
    assert claimed.task.state == advisor_pb2.TASK_STATE_CLAIMED


def test_an_advisor_cannot_list_or_complete_another_queues_tasks(servicer: AdvisorQueueServicer,
                                                                 as_advisor: Any) -> None:
    as_advisor("ann", "financial-support")
    with pytest.raises(PermissionDeniedError):
        call(servicer.ListQueue(advisor_pb2.ListQueueRequest(queue="wealth"), None))
    with pytest.raises(PermissionDeniedError):
        call(servicer.Complete(advisor_pb2.CompleteRequest(task_id="w-1", outcome="CONTACTED"), None))


def test_an_empty_queue_answers_empty(servicer: AdvisorQueueServicer, as_advisor: Any) -> None:
    as_advisor("ann", "mortgage-care")
    assert call(servicer.ClaimNext(advisor_pb2.ClaimNextRequest(queue="mortgage-care"), None)).empty


BAD_REQUESTS = [
    ("ClaimNext", advisor_pb2.ClaimNextRequest(queue=""), "queue"),
    ("ClaimNext", advisor_pb2.ClaimNextRequest(queue="Wealth Team"), "queue"),
    ("ClaimNext", advisor_pb2.ClaimNextRequest(queue="wealth", lease_seconds=-5), "lease_seconds"),
    ("ClaimNext", advisor_pb2.ClaimNextRequest(queue="wealth", lease_seconds=86_400), "lease_seconds"),
    ("Complete", advisor_pb2.CompleteRequest(task_id="", outcome="CONTACTED"), "task_id"),
    ("Complete", advisor_pb2.CompleteRequest(task_id="w-1", outcome="MAYBE"), "outcome"),
    ("Complete", advisor_pb2.CompleteRequest(task_id="w-1", outcome="CONTACTED", note="x" * 2001), "note"),
    ("Snooze", advisor_pb2.SnoozeRequest(task_id="w-1", snooze_seconds=0), "snooze_seconds"),
    ("Snooze", advisor_pb2.SnoozeRequest(task_id="w 1", snooze_seconds=60), "task_id"),
    ("Release", advisor_pb2.ReleaseRequest(task_id=""), "task_id"),
    ("ListQueue", advisor_pb2.ListQueueRequest(queue="wealth", page=common_pb2.PageRequest(page_size=501)),
     "page.page_size"),
    ("ListQueue", advisor_pb2.ListQueueRequest(queue="wealth", page=common_pb2.PageRequest(page_token="%%")),
     "page.page_token"),
]


@pytest.mark.parametrize(("method", "request_message", "field"), BAD_REQUESTS)
def test_bad_requests_name_the_field(servicer: AdvisorQueueServicer, as_advisor: Any, method: str,
                                     request_message: Any, field: str) -> None:
    as_advisor("ann", "wealth", "financial-support")
    with pytest.raises(ValidationError) as raised:
        call(getattr(servicer, method)(request_message, None))
    assert raised.value.field == field


def test_list_queue_pages(servicer: AdvisorQueueServicer, as_advisor: Any) -> None:
    as_advisor("ann", "financial-support")
    with servicer.store.transaction() as tx:
        for i in range(5):
            TaskRepository(tx, servicer.clock).add(task(f"more-{i}", value=1000 * i))
    first = call(servicer.ListQueue(advisor_pb2.ListQueueRequest(
        queue="financial-support", page=common_pb2.PageRequest(page_size=4)), None))
    second = call(servicer.ListQueue(advisor_pb2.ListQueueRequest(
        queue="financial-support", page=common_pb2.PageRequest(page_size=4, page_token=first.page.next_page_token)),
        None))
    ids = [t.task.id for t in first.tasks] + [t.task.id for t in second.tasks]
    assert len(ids) == 6 and len(set(ids)) == 6 and second.page.next_page_token == ""
    assert [t.priority for t in first.tasks] == sorted((t.priority for t in first.tasks), reverse=True)
