"""Spending that follows pay (`pay_cycle.py`): each day's expected spending at its days since pay (pure logic)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.advice.pay_cycle import cycle_means

TODAY = date(2026, 3, 2)


def days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def weekly_splurge(weeks: int, splurge: int = 90, lean: int = 10) -> tuple[list[int], date, list[date]]:
    """A customer paid every 7 days who spends `splurge` on payday and the day after and `lean` on the 5 days
    before the next pay: `weeks` weeks of history before today; today is 5 days since pay."""
    first = TODAY - timedelta(days=7 * weeks)
    pays = [first + timedelta(days=7 * w + 2) for w in range(weeks + 1)]  # the next pay: the day after tomorrow
    daily = [splurge if (day - pays[0]).days % 7 in (0, 1) else lean for day in days(first, 7 * weeks)]
    return daily, first, pays


def test_each_day_is_expected_at_its_days_since_pay() -> None:
    daily, first, pays = weekly_splurge(8)
    cycle = cycle_means(daily, first, days(TODAY, 4), pays, prior_days=0)
    assert cycle is not None
    assert cycle.ahead == (10, 10, 90, 90)   # today and tomorrow are lean; then payday and the day after
    assert cycle.ahead_sum(3) == 110
    overall = round(sum(daily) / len(daily))
    assert cycle.past[:2] == (overall, overall)  # the days before the first pay known: the overall mean
    assert set(cycle.residuals(daily)[2:]) == {0}


def test_a_group_seen_on_a_few_days_is_drawn_to_the_overall_mean() -> None:
    daily, first, pays = weekly_splurge(8)
    overall = sum(daily) / len(daily)
    plain = cycle_means(daily, first, [pays[-1]], pays, prior_days=0)
    drawn = cycle_means(daily, first, [pays[-1]], pays, prior_days=1000)
    assert plain is not None and drawn is not None
    assert plain.ahead == (90,)
    assert abs(drawn.ahead[0] - overall) < 2


def test_even_spending_comes_back_as_it_was() -> None:
    daily = [10, 30, 20, 10, 30, 20, 10] * 4
    first = TODAY - timedelta(days=len(daily))
    cycle = cycle_means(daily, first, days(TODAY, 5), [first + timedelta(days=d) for d in (0, 7, 14, 21)],
                        prior_days=1_000_000)  # every group at the overall mean
    assert cycle is not None
    mean = round(sum(daily) / len(daily))
    assert cycle.ahead == (mean,) * 5 and cycle.residuals(daily) == [d - mean for d in daily]


@pytest.mark.parametrize(("case", "daily", "pays"), [
    ("no history", [], [TODAY]),
    ("no pay known", [10] * 20, []),
    ("no pay before any past day", [10] * 20, [TODAY + timedelta(days=1)]),
])
def test_nothing_to_learn_the_cycle_from(case: str, daily: list[int], pays: list[date]) -> None:
    assert cycle_means(daily, TODAY - timedelta(days=len(daily)), [TODAY], pays, prior_days=7) is None, case
