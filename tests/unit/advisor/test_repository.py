from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from services.advisor.repository import CLAIMED, DONE, MIGRATIONS, QUEUED, SNOOZED, TaskRepository
from services.platform.errors import FailedPreconditionError, NotFoundError
from services.platform.storage import Store
from tests.stores import EachCallInItsTransaction
from tests.unit.advisor.builders import T0, Clock, task


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Tasks(EachCallInItsTransaction):
    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(store, lambda tx: TaskRepository(tx, clock))
        self.clock = clock


@pytest.fixture
def repo(open_store: Callable[[str], Store], clock: Clock) -> Tasks:
    store = open_store("advisor")
    store.migrate(MIGRATIONS)
    return Tasks(store, clock)


def add(repo: Tasks, *tasks: object) -> None:
    with repo.store.transaction() as tx:
        for t in tasks:
            TaskRepository(tx, repo.clock).add(t)  # type: ignore[arg-type]


def test_adding_the_same_task_twice_stores_it_once(repo: Tasks) -> None:
    with repo.store.transaction() as tx:
        assert TaskRepository(tx, repo.clock).add(task("t1")) is True
        assert TaskRepository(tx, repo.clock).add(task("t1")) is False
    assert len(repo.list_queue("financial-support", 0, 50)) == 1


def test_claim_takes_the_highest_value_times_urgency_first(repo: Tasks) -> None:
    add(repo, task("small", value=10_000, urgency=0.9), task("big", value=500_000, urgency=0.3),
        task("urgent", value=100_000, urgency=0.9))
    order = [repo.claim_next("financial-support", "ann", 300).task.id for _ in range(3)]  # type: ignore[union-attr]
    assert order == ["big", "urgent", "small"]  # 1500.0, 900.0, 90.0
    assert repo.claim_next("financial-support", "ann", 300) is None


def test_a_claim_whose_lease_expires_can_be_claimed_again(repo: Tasks, clock: Clock) -> None:
    add(repo, task("t1"))
    first = repo.claim_next("financial-support", "ann", 60)
    assert first is not None and first.state == CLAIMED and first.claimed_by == "ann"
    assert repo.claim_next("financial-support", "bob", 60) is None
    clock.advance(seconds=59)
    assert repo.claim_next("financial-support", "bob", 60) is None
    clock.advance(seconds=2)
    assert repo.get("t1").state == QUEUED
    second = repo.claim_next("financial-support", "bob", 60)
    assert second is not None and second.task.id == "t1" and second.claimed_by == "bob"
    with pytest.raises(FailedPreconditionError):
        repo.complete("t1", "ann", "CONTACTED", "")  # ann's lease is gone
    done = repo.complete("t1", "bob", "CONTACTED", "called")
    assert (done.state, done.outcome) == (DONE, "CONTACTED")


def test_two_advisors_never_hold_the_same_task_at_once(repo: Tasks, open_store: Callable[[str], Store],
                                                       clock: Clock) -> None:
    setup = repo
    add(setup, *(task(f"t{i:02d}", value=1000 * (i + 1)) for i in range(20)))
    claims: dict[str, list[str]] = {}
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def advisor(name: str) -> None:
        repo = Tasks(open_store("advisor"), clock)  # its own Store on the same database: its own connections
        mine: list[str] = []
        try:
            barrier.wait()
            while (row := repo.claim_next("financial-support", name, 300)) is not None:
                mine.append(row.task.id)
        except BaseException as exc:
            errors.append(exc)
        claims[name] = mine

    threads = [threading.Thread(target=advisor, args=(f"advisor-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    taken = [tid for mine in claims.values() for tid in mine]
    assert sorted(taken) == sorted(f"t{i:02d}" for i in range(20))  # every task exactly once
    assert len(taken) == len(set(taken))
    holders = {row.task.id: row.claimed_by for row in setup.list_queue("financial-support", 0, 50)}
    for name, mine in claims.items():
        assert all(holders[tid] == name for tid in mine)


def test_only_the_holder_can_complete_snooze_or_release(repo: Tasks) -> None:
    add(repo, task("t1"))
    repo.claim_next("financial-support", "ann", 300)
    for action in (lambda: repo.complete("t1", "bob", "CONTACTED", ""), lambda: repo.snooze("t1", "bob", 60),
                   lambda: repo.release("t1", "bob")):
        with pytest.raises(FailedPreconditionError):
            action()
    with pytest.raises(NotFoundError):
        repo.complete("nope", "ann", "CONTACTED", "")


def test_a_snoozed_task_returns_when_the_snooze_ends(repo: Tasks, clock: Clock) -> None:
    add(repo, task("t1"))
    repo.claim_next("financial-support", "ann", 300)
    assert repo.snooze("t1", "ann", 3600).state == SNOOZED
    assert repo.claim_next("financial-support", "bob", 300) is None
    clock.advance(hours=1, seconds=1)
    assert repo.claim_next("financial-support", "bob", 300).task.id == "t1"  # type: ignore[union-attr]


def test_a_released_task_is_claimable_at_once(repo: Tasks) -> None:
    add(repo, task("t1"))
    repo.claim_next("financial-support", "ann", 300)
    assert repo.release("t1", "ann").state == QUEUED
    assert repo.claim_next("financial-support", "bob", 300).claimed_by == "bob"  # type: ignore[union-attr]


def test_sla_breaches_are_counted_once_each(repo: Tasks, clock: Clock) -> None:
    add(repo, task("late", sla_hours=1), task("fine", sla_hours=48), task("done-late", sla_hours=1, value=999_999))
    repo.claim_next("financial-support", "ann", 7200)  # done-late (highest priority)
    clock.advance(hours=1, minutes=1)
    repo.complete("done-late", "ann", "CONTACTED", "")
    assert repo.mark_breaches() == {"financial-support": 2}
    assert repo.mark_breaches() == {}
    assert repo.get("late").sla_breached and repo.get("done-late").sla_breached
    assert not repo.get("fine").sla_breached


def test_queues_are_separate(repo: Tasks) -> None:
    add(repo, task("w1", queue="wealth"))
    assert repo.claim_next("financial-support", "ann", 300) is None
    assert repo.claim_next("wealth", "ann", 300).task.id == "w1"  # type: ignore[union-attr]


def test_changes_are_logged_for_watchers(repo: Tasks) -> None:
    add(repo, task("t1"))
    repo.claim_next("financial-support", "ann", 300)
    changes = repo.changes_since("financial-support", 0)
    assert [(c.task.id, c.state) for _, c in changes] == [("t1", CLAIMED), ("t1", CLAIMED)]
    assert repo.changes_since("financial-support", changes[-1][0]) == []


def test_the_oldest_open_task_of_each_queue_is_known(repo: Tasks, clock: Clock) -> None:
    add(repo, task("old", created=T0), task("new", created=T0 + timedelta(hours=1)), task("w", queue="wealth",
                                                                                      created=T0))
    assert repo.oldest_open() == {"financial-support": T0, "wealth": T0}
    claimed = repo.claim_next("financial-support", "ann", 300)
    assert claimed is not None and claimed.task.id == "old"
    repo.complete("old", "ann", "CONTACTED", "")
    assert repo.oldest_open() == {"financial-support": T0 + timedelta(hours=1), "wealth": T0}
