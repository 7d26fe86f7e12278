from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.advice.rules.balance import IDLE_CASH, LOW_BALANCE
from services.advice.rules.charges import DUPLICATE_CHARGE, FEE_CHARGED
from services.advice.rules.payments import INCOME_LATE, NEW_SUBSCRIPTION
from services.advice.rules.spending import SPENDING_SPIKE
from tests.unit.advice.builders import Account, at, daily, months


def test_a_card_charged_twice_within_minutes_is_flagged_once_with_both_amounts() -> None:
    account = Account()
    account.tx(at(date(2026, 3, 3), 12, 1), 4500, payee="m-bistro", name="Bistro Verde", mcc="5812")
    account.tx(at(date(2026, 3, 3), 12, 4), 4500, payee="m-bistro", name="Bistro Verde", mcc="5812")
    nudges = account.nudges(DUPLICATE_CHARGE)
    assert len(nudges) == 1
    assert nudges[0].data["minutes_apart"] == "3" and "£45.00" in nudges[0].title


def test_no_duplicate_for_different_amounts_cards_or_a_long_gap() -> None:
    account = Account()
    day = date(2026, 3, 3)
    account.tx(at(day, 12, 0), 4500, payee="m-bistro", name="Bistro")
    account.tx(at(day, 12, 5), 4600, payee="m-bistro", name="Bistro")  # different amount
    account.tx(at(day, 12, 6), 4600, payee="m-bistro", name="Bistro", card="tok-2")  # different card
    account.tx(at(day, 18, 0), 4500, payee="m-bistro", name="Bistro")  # hours later
    account.tx(at(day, 19, 0), 300, payee="m-kiosk", name="Kiosk")
    account.tx(at(day, 19, 1), 300, payee="m-kiosk", name="Kiosk")  # below the 5.00 minimum
    assert account.nudges(DUPLICATE_CHARGE) == []


def test_an_overdraft_fee_is_explained_as_avoidable() -> None:
    account = Account(balance=1000)
    account.tx(at(date(2026, 3, 3), 10), 3000)
    account.tx(at(date(2026, 3, 3), 23, 59), 500, channel="FEE", payee="cp_bank_fees", name="Bank",
               description="Overdraft fee")
    fee = account.nudges(FEE_CHARGED)[0]
    assert fee.data["avoidable"] == "true" and fee.data["fee_kind"] == "OVERDRAFT_FEE"
    assert "£5.00" in fee.title


def test_a_monthly_account_fee_is_not_called_avoidable() -> None:
    account = Account()
    account.tx(at(date(2026, 3, 3)), 300, channel="FEE", payee="cp_bank_fees", description="Monthly account fee")
    fee = account.nudges(FEE_CHARGED)[0]
    assert fee.data["avoidable"] == "false"


def test_a_late_salary_is_flagged_once_after_the_grace_days() -> None:
    account = Account()
    for day in months(date(2026, 1, 25), 3, 25):
        account.salary(day)
    for day in daily(date(2026, 4, 20), 10):  # April's salary never arrives
        account.tx(at(day, 12), 1000)
    late = account.nudges(INCOME_LATE)
    assert len(late) == 1
    assert late[0].data["expected_day"] == "2026-04-25" and late[0].data["days_late"] == "3"
    fired_on = next(e.observation.today for e in account.evaluations if late[0] in e.candidates)
    assert fired_on == date(2026, 4, 28)


def test_a_salary_one_day_late_is_not_flagged() -> None:
    account = Account()
    for day in [*months(date(2026, 1, 25), 3, 25), date(2026, 4, 26)]:
        account.salary(day)
        account.tx(at(day + timedelta(days=2), 12), 1000)
    assert account.nudges(INCOME_LATE) == []


def test_low_balance_fires_below_the_threshold_and_not_again_inside_the_window() -> None:
    account = Account(balance=30_000)
    account.tx(at(date(2026, 3, 1)), 5_000)  # 250.00 left: above 200.00
    assert account.nudges(LOW_BALANCE) == []
    account.tx(at(date(2026, 3, 2)), 10_000)  # 150.00
    account.tx(at(date(2026, 3, 3)), 10_000)  # 50.00: still inside the 17-day window
    nudges = account.nudges(LOW_BALANCE)
    assert len(nudges) == 1 and nudges[0].data["balance_minor"] == "15000"


def test_idle_cash_above_the_buffer_names_the_interest_forgone() -> None:
    account = Account(balance=1_500_000)
    for day in daily(date(2026, 1, 1), 40):
        account.tx(at(day), 2_000)
    idle = account.nudges(IDLE_CASH)
    assert len(idle) == 1
    data = idle[0].data
    assert int(data["idle_minor"]) == int(data["lowest_balance_minor"]) - int(data["buffer_minor"])
    assert int(data["yearly_interest_minor"]) == int(data["idle_minor"]) * 350 // 10_000


def test_a_spending_spike_compares_with_the_customers_own_months() -> None:
    account = Account(balance=2_000_000)
    for day in daily(date(2026, 1, 1), 90):  # Jan-Mar: 2 meals out a week at 25.00
        if day.weekday() in (4, 5):
            account.tx(at(day, 20), 2_500, name="Trattoria", mcc="5812")
    for day in daily(date(2026, 4, 1), 20):  # April: out every night
        account.tx(at(day, 20), 2_500, name="Trattoria", mcc="5812")
    spikes = account.nudges(SPENDING_SPIKE)
    assert len(spikes) == 1
    assert spikes[0].data["category"] == "eating out"
    assert int(spikes[0].data["month_to_date_minor"]) >= int(spikes[0].data["usual_minor"]) * 1.5


def test_a_subscription_started_after_the_warmup_is_new_but_one_running_from_the_start_is_not() -> None:
    account = Account()
    for day in months(date(2026, 1, 3), 3, 3):
        account.tx(at(day), 799, channel="DIRECT_DEBIT", payee="news", name="NewsDaily",
                   description="NewsDaily digital subscription")
    for day in months(date(2026, 3, 10), 3, 10):
        account.tx(at(day), 1099, channel="DIRECT_DEBIT", payee="tunes", name="TuneBox",
                   description="TuneBox Music subscription")
    new = account.nudges(NEW_SUBSCRIPTION)
    assert [n.data["payee"] for n in new] == ["TuneBox"]
    assert new[0].data["yearly_minor"] == str(1099 * 12)


@pytest.mark.parametrize(("first", "step", "amount"), [(date(2026, 1, 2), 14, 1_150_00),   # bi-weekly
                                                       (date(2026, 1, 9), 28, 2_300_00),   # four-weekly
                                                       (date(2026, 1, 2), 7, 600_00)])     # weekly
def test_income_paid_on_its_own_rhythm_is_never_late(first: date, step: int, amount: int) -> None:
    account = Account()
    day = first
    while day < date(2026, 6, 1):
        account.salary(day, amount)
        for spend in daily(day + timedelta(days=1), step - 1):
            account.tx(at(spend, 12), 1000)
        day += timedelta(days=step)
    assert account.nudges(INCOME_LATE) == []


def test_a_bi_weekly_salary_that_stops_is_late_two_weeks_on() -> None:
    account = Account()
    for i in range(6):
        account.salary(date(2026, 1, 2) + timedelta(days=14 * i), 1_150_00)   # last: Fri 13 March
    for day in daily(date(2026, 3, 14), 20):
        account.tx(at(day, 12), 1000)
    late = account.nudges(INCOME_LATE)
    assert len(late) == 1 and late[0].data["expected_day"] == "2026-03-27"
