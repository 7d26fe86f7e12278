"""The chance of a new overdraft from the customer's own spending (pure logic, table-driven)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.advice.overdraft_odds import overdraft_odds, quantile, share_above, window_sums
from tests.unit.advice.builders import Account, at, daily, policy

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


# overdrawn at 50.00, 75.00 after a bill tomorrow; the pay of 205.00 on day 2 is booked before that day's
# bill: the balance is 130.00 for a moment, then the bill of `bill` takes it to 130.00 - bill by the evening
@pytest.mark.parametrize(("case", "pay", "bill", "daily", "chance", "day", "balance"), [
    ("the pay ends the overdraft, the day's bill starts a new one", 20_500, 13_500, STEADY, 1.0, 2, -5_500),
    # 25.00 a day: 130.00 - 25.00 at the pay, 130.00 - 120.00 - 50.00 by the evening
    ("the day's spending after the pay starts a new one", 20_500, 12_000, STEADY, 1.0, 2, -4_000),
    # a pay of 125.00 leaves 50.00: a lump of 100.00 the day before keeps the balance below zero (no new
    # overdraft), a lump on the day takes it below again: 14 of the 55 runs of 2 days
    ("lumpy spending: the runs that leave the pay above zero, then go below", 12_500, 4_000, LUMPY, 14 / 55, 2,
     -9_000),
])
def test_an_overdrawn_customer_can_go_below_zero_again_on_payday(
        case: str, pay: int, bill: int, daily: list[int], chance: float, day: int, balance: int) -> None:
    scheduled = path(-5_000, -7_500, -7_500 + pay - bill, -7_500 + pay - bill)
    peaks = path(-5_000, -7_500, -7_500 + pay, -7_500 + pay - bill)
    odds = overdraft_odds(scheduled, daily, lead_days=3, min_chance=0.2, spend_quantile=1.0, overdrawn=True,
                          peaks=peaks)
    assert odds is not None, case
    assert (odds.chance, odds.day, odds.balance_minor) == (chance, TODAY + timedelta(days=day), balance), case


def test_after_payday_only_the_runs_whose_pay_ended_the_overdraft_count() -> None:
    """The pay of 125.00 on day 2 leaves 50.00; a bill of 80.00 on day 3 takes any balance below zero. A run with a
    lump of 100.00 on day 1 kept the balance below zero through the pay: the same overdraft, not a new one."""
    scheduled = path(-5_000, -7_500, 5_000, -3_000)
    peaks = path(-5_000, -7_500, 5_000, 5_000)  # after each day's credits, before its debits
    odds = overdraft_odds(scheduled, LUMPY, lead_days=3, min_chance=0.5, spend_quantile=1.0, overdrawn=True,
                          peaks=peaks)
    assert odds is not None
    # day 2: 14 of 55 runs (a lump that day only); day 3: the 41 of 54 runs with no lump on day 1
    assert (odds.chance, odds.day) == (41 / 54, TODAY + timedelta(days=3))


def test_a_pay_that_leaves_the_balance_below_zero_does_not_end_the_overdraft() -> None:
    scheduled = path(-5_000, -7_500, -3_000, -3_000)
    assert overdraft_odds(scheduled, STEADY, lead_days=3, min_chance=0.1, spend_quantile=0.9, overdrawn=True,
                          peaks=scheduled) is None


def test_no_history_no_odds() -> None:
    assert overdraft_odds(path(100), [], lead_days=4, min_chance=0.5, spend_quantile=0.9) is None


# ---- what the odds read from the customer's state --------------------------------------------------------

def test_the_outflow_history_nets_income_no_series_accounts_for() -> None:
    account = Account(balance=10_000)
    start = date(2026, 1, 1)
    for day in daily(start, 20):
        account.tx(at(day, 12), 2_000, payee="", name="Grocer")
    # gig payouts from one platform every 2-3 days, never a regular series
    for offset, amount in ((3, 15_000), (5, 9_000), (8, 21_000)):
        account.tx(at(start + timedelta(days=offset), 18), amount, credit=True, channel="SALARY", payee="gigapp",
                   name="GigApp")
    today = start + timedelta(days=20)
    outflow = account.state.daily_outflow_history(today, 56)
    assert outflow[3] == 2_000 - 15_000 and outflow[5] == 2_000 - 9_000 and outflow[8] == 2_000 - 21_000
    assert outflow[4] == 2_000
    assert account.state.daily_spend_history(today, 56) == [2_000] * 20


def test_a_salary_leaves_the_outflow_once_it_is_a_series() -> None:
    account = Account(balance=10_000)
    account.salary(date(2026, 1, 2))
    assert account.state.daily_outflow_history(date(2026, 1, 20), 56)[0] == -250_000
    account.salary(date(2026, 2, 2))   # a month later: a series, so the forecast credits it on its dates
    assert min(account.state.daily_outflow_history(date(2026, 2, 10), 56)) == 0


def test_a_direct_debit_seen_once_is_forecast_a_month_later() -> None:
    base = policy()
    account = Account(balance=300_000, policy=base.model_copy(
        update={"forecast": base.forecast.model_copy(update={"mandates_seen_once": True})}))
    account.profile(payday=28, monthly_income_minor=250_000)
    account.tx(at(date(2026, 1, 5), 7), 120_000, channel="DIRECT_DEBIT", payee="landlord", name="Landlord")
    for day in daily(date(2026, 1, 5), 30):
        last = account.tx(at(day, 12), 1_000, payee="", name="Grocer")
    forecast = last.forecast
    assert forecast is not None and forecast.today == date(2026, 2, 3)
    assert [(u.day, u.name, u.amount_minor) for u in forecast.upcoming if u.name == "Landlord"] == [
        (date(2026, 2, 5), "Landlord", -120_000)]
