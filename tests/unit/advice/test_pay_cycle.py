"""Spending that follows pay (`pay_cycle.py`) and the odds judged on the part of the pay cycle ahead (pure logic,
table-driven)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.advice.overdraft_odds import overdraft_odds
from services.advice.pay_cycle import cycle_means

TODAY = date(2026, 3, 2)


def weekly_splurge(weeks: int, splurge: int = 90, lean: int = 10) -> tuple[list[int], list[date]]:
    """A customer paid every 7 days who spends `splurge` on payday and the day after, `lean` on the 5 days
    before the next pay: `weeks` weeks of history; today is 5 days since pay, the next pay the day after tomorrow."""
    first = TODAY - timedelta(days=7 * weeks)
    pays = [first + timedelta(days=7 * w + 2) for w in range(weeks + 1)]
    daily = [splurge if (first + timedelta(days=i) - pays[0]).days % 7 in (0, 1) else lean
             for i in range(7 * weeks)]
    return daily, pays


def test_each_day_is_expected_at_its_days_since_pay() -> None:
    daily, pays = weekly_splurge(8)
    cycle = cycle_means(daily, TODAY, pays, 3, prior_days=0)
    assert cycle is not None
    assert cycle.ahead == (10, 90, 90)      # a lean day, payday, the day after it
    overall = round(sum(daily) / len(daily))
    assert cycle.past[:2] == (overall, overall)  # before the first pay known: the overall mean
    assert set(cycle.residuals(daily)[2:]) == {0}


def test_a_group_seen_on_a_few_days_is_drawn_to_the_overall_mean() -> None:
    daily, pays = weekly_splurge(8)
    overall = sum(daily) / len(daily)
    plain = cycle_means(daily, TODAY, pays, 1, prior_days=0)
    drawn = cycle_means(daily, TODAY, pays, 1, prior_days=1000)
    assert plain is not None and drawn is not None
    assert plain.ahead == (10,)
    assert abs(drawn.ahead[0] - overall) < abs(plain.ahead[0] - overall) and abs(drawn.ahead[0] - overall) < 2


@pytest.mark.parametrize(("case", "daily", "pays"), [
    ("no history", [], [TODAY]),
    ("no pay known", [10] * 20, []),
    ("no pay before any past day", [10] * 20, [TODAY + timedelta(days=1)]),
])
def test_nothing_to_learn_the_cycle_from(case: str, daily: list[int], pays: list[date]) -> None:
    assert cycle_means(daily, TODAY, pays, 3, prior_days=7) is None, case


def test_runs_of_even_spending_come_back_as_they_were() -> None:
    daily = [10, 30, 20, 10, 30, 20, 10] * 4
    pays = [TODAY - timedelta(days=d) for d in (28, 21, 14, 7)]
    scheduled = [(TODAY + timedelta(days=k), 60 - 5 * k) for k in range(5)]
    cycle = cycle_means(daily, TODAY, pays, 5, prior_days=1_000_000)  # every group at the overall mean
    assert overdraft_odds(scheduled, daily, 4, 0.3, 0.9, cycle=cycle) == overdraft_odds(scheduled, daily, 4, 0.3, 0.9)


def test_the_lean_days_before_pay_are_not_judged_on_the_splurge_after_it() -> None:
    """Two days before payday, 60 in the account and nothing scheduled: runs that held a payday splurge say the
    customer may overdraw on the lean day ahead; judged on the lean days themselves, they will not."""
    daily, pays = weekly_splurge(8)
    scheduled = [(TODAY, 60), (TODAY + timedelta(days=1), 60)]
    blind = overdraft_odds(scheduled, daily, 1, 0.3, 0.9)
    aware = overdraft_odds(scheduled, daily, 1, 0.3, 0.9, cycle=cycle_means(daily, TODAY, pays, 1, prior_days=0))
    assert blind is not None and blind.chance == pytest.approx(2 / 7, abs=0.02)
    assert aware is not None and aware.chance == 0.0
