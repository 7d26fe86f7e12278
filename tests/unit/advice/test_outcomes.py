"""Advisors' outcomes teach the ranking as a customer's answer does (services/advice/outcomes.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from services.advice.bandit import Context
from services.advice.outcomes import OutcomeHandler
from services.advice.policy import policy_book
from services.advice.repository import MIGRATIONS, AdviceRepository
from services.gen.proactivecare.v1 import advice_pb2, events_pb2
from services.platform.runner import Record
from services.platform.storage import Store

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def nudge(nudge_id: str, nudge_type: str, sent: bool = True) -> advice_pb2.Nudge:
    n = advice_pb2.Nudge(id=nudge_id, customer_id="c-1", type=nudge_type, title="t", body="b", sent=sent)
    n.created_at.FromDatetime(NOW)
    return n


def outcome(task_id: str, outcome: str, kind: str = "REPEATED_SHORTFALL", source: str = "advice") -> Record:
    event = events_pb2.AdvisorOutcome(task_id=task_id, customer_id="c-1", queue="financial-support", kind=kind,
                                      source=source, outcome=outcome, advisor="ann")
    return Record("t.advisor-outcomes", 0, 1, "c-1", f"outcome:{task_id}", event, 1000)


@pytest.fixture
def store(open_store: Callable[[str], Store]) -> Store:
    s = open_store("advice")
    s.migrate(MIGRATIONS)
    with s.transaction() as tx:
        repo = AdviceRepository(tx)
        repo.add_nudge(nudge("n-short", "PROJECTED_SHORTFALL"), Context("mass", 1))
        repo.add_nudge(nudge("n-idle", "IDLE_CASH"), Context("mass", 2))
        repo.add_nudge(nudge("n-unsent", "PROJECTED_SHORTFALL", sent=False), Context("mass", 1))
    return s


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_accepted_offer_counts_as_the_customer_acting_on_the_nudge_behind_the_task(store: Store) -> None:
    learnt: list[tuple[str, str]] = []
    handler = OutcomeHandler(policy_book(), lambda t, r: learnt.append((t, r)), clock=lambda: NOW)
    with store.transaction() as tx:
        handler.handle([outcome("task-1", "OFFER_ACCEPTED"),
                        outcome("task-2", "UNREACHABLE", kind="IDLE_CASH"),  # says nothing about the advice
                        outcome("task-3", "CONTACTED", source="mortgage")], tx)  # not advice's task
    with store.read() as tx:
        repo = AdviceRepository(tx)
        answers = {n.id: n.response for n in repo.list_nudges("c-1", 0, 10)}
        bandit = repo.load_bandit(policy_book().at(NOW).ranking)
    assert answers == {"n-short": advice_pb2.NUDGE_RESPONSE_ACTED, "n-idle": advice_pb2.NUDGE_RESPONSE_UNSPECIFIED,
                       "n-unsent": advice_pb2.NUDGE_RESPONSE_UNSPECIFIED}
    assert bandit.observations("PROJECTED_SHORTFALL") == 1 and bandit.observations("IDLE_CASH") == 0
    assert learnt == [("PROJECTED_SHORTFALL", "ACTED")]
    with store.transaction() as tx:  # a second outcome finds no unanswered nudge: the customer's answer stands
        handler.handle([outcome("task-4", "OFFER_DECLINED")], tx)
    assert learnt == [("PROJECTED_SHORTFALL", "ACTED")]
