"""The chance of a new overdraft from the customer's own spending (pure logic, table-driven)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.advice.overdraft_odds import overdraft_odds, quantile, share_above, window_sums

TODAY = date(2026, 3, 2)


def path(*balances: int) -> list[tuple[date, int]]:
    """The scheduled end-of-day balances from today."""
    return [(TODAY + timedelta(days=k), b) for k, b in enumerate(balances)]


@pytest.mark.parametrize(("daily", "k", "sums"), [
    ([1, 2, 3, 4], 0, [0]),
    ([1, 2, 3, 4], 1, [1, 2, 3, 4]),
    ([1, 2, 3, 4], 2, [3, 5, 7]),
    ([1, 2, 3, 4], 4, [10]),
    ([1, 2, 3, 4], 5, []),
])
def test_window_sums_are_every_run_of_k_consecutive_days(daily: list[int], k: int, sums: list[int]) -> None:
    assert window_sums(daily, k) == sums


@pytest.mark.parametrize(("sums", "limit", "share"), [
    ([10, 20, 30, 40], 25, 0.5),
    ([10, 20, 30, 40], 40, 0.0),   # spending exactly the balance leaves zero: not below it
    ([10, 20, 30, 40], -1, 1.0),
    ([], 0, 0.0),
])
def test_share_above(sums: list[int], limit: int, share: float) -> None:
    assert share_above(sums, limit) == share


@pytest.mark.parametrize(("q", "value"), [(0.5, 20), (0.9, 40), (0.75, 30), (0.0, 10), (1.0, 40)])
def test_quantile_is_an_amount_really_spent(q: float, value: int) -> None:
    assert quantile([40, 10, 30, 20], q) == value


# spending in lumps: nothing on most days, 100.00 one day in four
LUMPY = [0, 0, 0, 10_000] * 14
STEADY = [2_500] * 56          # the same average, every day


@pytest.mark.parametrize(("case", "scheduled", "daily", "overdrawn", "chance", "day", "balance"), [
    # 60.00 available: one lump in any 4 days takes it below zero, in 1 of 4 single days
    ("lumpy spending, day 1 already at risk", path(6_000, 6_000, 6_000, 6_000, 6_000), LUMPY, False, 0.25, 1, -4_000),
    # the same average every day never comes close within 2 days, and crosses on day 3 for sure
    ("steady spending crosses on day 3", path(6_000, 6_000, 6_000, 6_000, 6_000), STEADY, False, 1.0, 3, -1_500),
    ("plenty of money: no chance", path(90_000, 90_000, 90_000, 90_000, 90_000), LUMPY, False, 0.0, 0, 90_000),
    ("a bill today takes it below zero", path(-500, -500, -500), STEADY, False, 1.0, 0, -500),
    # overdrawn until pay on day 2; after it 80.00 left: steady spending of 25.00 a day crosses on day 6
    ("overdrawn: only the overdraft after pay counts", path(-5_000, -7_500, 13_000, 13_000, 13_000, 13_000, 13_000),
     STEADY, True, 1.0, 6, -2_000),
])
def test_the_chance_of_a_new_overdraft(case: str, scheduled: list[tuple[date, int]], daily: list[int],
                                       overdrawn: bool, chance: float, day: int, balance: int) -> None:
    odds = overdraft_odds(scheduled, daily, lead_days=6, min_chance=0.2, spend_quantile=1.0, overdrawn=overdrawn)
    assert odds is not None, case
    assert (odds.chance, odds.day, odds.balance_minor) == (chance, TODAY + timedelta(days=day), balance), case


def test_below_the_threshold_the_most_likely_day_is_reported() -> None:
    odds = overdraft_odds(path(15_000, 15_000, 15_000, 15_000), LUMPY, lead_days=3, min_chance=0.9,
                          spend_quantile=0.5)
    assert odds is not None
    # two lumps in 3 days never happen in this history: at most one, and 100.00 < 150.00
    assert odds.chance == 0.0 and odds.day == TODAY


def test_overdrawn_with_no_pay_in_sight_is_not_a_new_overdraft() -> None:
    assert overdraft_odds(path(-5_000, -7_500, -10_000), STEADY, lead_days=4, min_chance=0.1,
                          spend_quantile=0.9, overdrawn=True) is None


def test_no_history_no_odds() -> None:
    assert overdraft_odds(path(100), [], lead_days=4, min_chance=0.5, spend_quantile=0.9) is None
