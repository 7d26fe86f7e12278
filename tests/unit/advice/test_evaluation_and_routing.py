from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.advice.offline.evaluation import match_share, score
from services.advice.routing import IDLE_CASH, PAYMENT_DIFFICULTY
from services.simulator.truth import interval
from tests.unit.advice.builders import Account, at, daily, months

T = datetime(2026, 5, 10, 12, tzinfo=UTC)


def test_score_counts_only_nudges_between_seven_days_and_a_day_ahead() -> None:
    episodes = [("a", T), ("b", T), ("c", T), ("d", T)]
    nudges = [
        ("a", T - timedelta(hours=30)),  # recalled, 30 h lead
        ("b", T - timedelta(hours=12)),  # too late
        ("c", T - timedelta(days=8)),  # too early: and no overdraft within 7 days of it
        ("e", T),  # a customer who never goes overdrawn
    ]
    result = score(nudges, episodes)
    assert result["overdraft_recall_24h"] == 0.25
    assert result["shortfall_precision"] == 0.5  # a's and b's nudges are followed by an overdraft
    assert result["median_lead_hours"] == 30.0
    # each share with its 95% Wilson interval: 1 of the 4 episodes, 2 of the 4 nudges
    assert result["overdraft_recall_24h_interval"] == interval(1, 4)
    assert result["shortfall_precision_interval"] == interval(2, 4)
    assert score([], [])["overdraft_recall_24h_interval"] is None


def test_match_share() -> None:
    assert match_share({("a", "x"), ("a", "y")}, {("a", "x"), ("b", "x")}) == {
        "recall": 0.5, "precision": 0.5, "truth": 2, "found": 2}


def test_large_idle_cash_becomes_a_wealth_task() -> None:
    account = Account(balance=5_000_000)
    for day in daily(date(2026, 1, 1), 40):
        account.tx(at(day), 2_000)
    tasks = [t for e in account.evaluations for t in _route(account, e)]
    assert [t.kind for t in tasks] == [IDLE_CASH]
    assert tasks[0].queue == "wealth" and tasks[0].value_minor >= 2_000_000


def test_bounced_payments_become_a_payment_difficulty_task() -> None:
    account = Account(balance=10_000)
    tasks = []
    for day in months(date(2026, 1, 3), 3, 3):
        e = account.tx(at(day), 90_000, channel="DIRECT_DEBIT", payee="mortgage", returned=True)
        tasks += _route(account, e)
    assert [t.kind for t in tasks] == [PAYMENT_DIFFICULTY, PAYMENT_DIFFICULTY]  # 2nd and 3rd bounce, same window
    assert tasks[0].id == tasks[1].id  # one task per case and window: the advisor store keeps one
    assert tasks[0].queue == "financial-support" and tasks[0].urgency == 0.9


def _route(account: Account, evaluation):
    from services.advice.routing import route

    return route(account.state, evaluation, account.policy)


def test_routed_tasks_are_valid_advisor_tasks() -> None:
    from services.advice.messages import to_advisor_task
    from services.advisor.validation import validate_task

    account = Account(balance=5_000_000)
    for day in daily(date(2026, 1, 1), 40):
        account.tx(at(day), 2_000)
    drafts = [t for e in account.evaluations for t in _route(account, e)]
    for draft in drafts:
        validate_task(to_advisor_task(draft))  # what the advisor service's worker checks
