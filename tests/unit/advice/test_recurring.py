from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.advice import recurring
from services.advice.state import CustomerState
from tests.unit.advice.builders import Account, at, months


def pay_streamflix(account: Account, day: date, amount: int = 999) -> None:
    account.tx(at(day), amount, channel="CARD_NOT_PRESENT", payee="streamflix", name="StreamFlix", mcc="4899")


def test_two_monthly_payments_make_an_early_series_and_a_third_makes_it_mature() -> None:
    account = Account()
    days = months(date(2026, 1, 5), 3, 5)
    pay_streamflix(account, days[0])
    assert account.state.series == {}
    pay_streamflix(account, days[1])
    series = account.state.series["D:streamflix"]
    assert (series.status, series.kind, series.period) == (recurring.EARLY, recurring.SUBSCRIPTION, "MONTHLY")
    assert series.next_due == date(2026, 3, 5)
    pay_streamflix(account, days[2])
    assert series.status == recurring.MATURE
    assert series.next_due == date(2026, 4, 5)


def test_a_payment_two_days_late_still_matches_and_keeps_the_day_of_month() -> None:
    account = Account()
    for day in [date(2026, 1, 5), date(2026, 2, 5), date(2026, 3, 7)]:
        pay_streamflix(account, day)
    series = account.state.series["D:streamflix"]
    assert series.matched_total == 3
    assert series.next_due == date(2026, 4, 5)


def test_month_end_salary_keeps_a_month_end_anchor() -> None:
    account = Account()
    for day in [date(2026, 1, 30), date(2026, 3, 2), date(2026, 3, 31)]:
        account.salary(day)
    series = account.state.series["C:acme-payroll"]
    assert series.kind == recurring.SALARY
    assert series.status == recurring.MATURE
    assert series.next_due in (date(2026, 4, 30),)


def test_weekly_series_is_detected() -> None:
    account = Account()
    for day in [date(2026, 1, 2), date(2026, 1, 9), date(2026, 1, 16)]:
        account.tx(at(day), 1500, channel="DIRECT_DEBIT", payee="gym", name="Gym")
    series = account.state.series["D:gym"]
    assert (series.period, series.status, series.next_due) == ("WEEKLY", recurring.MATURE, date(2026, 1, 23))


@pytest.mark.parametrize(
    ("second_day", "second_amount", "why"),
    [
        (date(2026, 1, 25), 999, "20 days apart fits no cadence"),
        (date(2026, 2, 5), 1500, "amount differs by more than 7.5% for a subscription"),
        (date(2026, 4, 5), 999, "three months apart fits no cadence"),
    ],
)
def test_payments_that_do_not_fit_a_cadence_make_no_series(second_day: date, second_amount: int, why: str) -> None:
    account = Account()
    pay_streamflix(account, date(2026, 1, 5))
    pay_streamflix(account, second_day, second_amount)
    assert account.state.series == {}, why


def test_a_series_ends_after_two_missed_payments() -> None:
    account = Account()
    for day in months(date(2026, 1, 5), 3, 5):
        pay_streamflix(account, day)
    account.tx(at(date(2026, 4, 20)), 500)  # April's payment missed: still active
    assert account.state.series["D:streamflix"].status == recurring.MATURE
    account.tx(at(date(2026, 5, 20)), 500)  # May's missed too
    assert account.state.series["D:streamflix"].status == recurring.ENDED


def test_state_round_trips_through_json_and_keeps_behaving_the_same() -> None:
    import json

    account = Account()
    for day in months(date(2026, 1, 5), 3, 5):
        pay_streamflix(account, day)
        account.salary(day)
    restored = CustomerState.from_dict(json.loads(json.dumps(account.state.to_dict())))
    assert restored.to_dict() == account.state.to_dict()
    assert restored.series["D:streamflix"].next_due == date(2026, 4, 5)


def test_state_rejects_an_unknown_schema() -> None:
    raw = CustomerState("c").to_dict()
    raw["schema"] = 99
    with pytest.raises(ValueError, match="schema"):
        CustomerState.from_dict(raw)


def test_first_payment_stops_counting_as_discretionary_once_the_series_is_detected() -> None:
    account = Account()
    account.tx(at(date(2026, 1, 5)), 5000, channel="DIRECT_DEBIT", payee="energy", name="Energy Co", mcc="4900")
    assert account.state.daily_spend["2026-01-05"] == 5000
    account.tx(at(date(2026, 2, 5)), 5200, channel="DIRECT_DEBIT", payee="energy", name="Energy Co", mcc="4900")
    assert account.state.daily_spend["2026-01-05"] == 0


def test_the_state_stays_bounded_over_a_long_history() -> None:
    import json

    account = Account(balance=10_000_000)
    for i in range(400):
        day = date(2026, 1, 1) + timedelta(days=i)
        account.tx(at(day, 9), 500 + i % 50, payee=f"shop-{i % 40}", name="Shop", mcc="5411")
        account.tx(at(day, 18), 1200, payee="m-bistro", name="Bistro", mcc="5812")
        if day.day == 5:
            pay_streamflix(account, day)
    size = len(json.dumps(account.state.to_dict()))
    assert size < 20_000, f"state grew to {size} bytes"
    assert len(account.state.daily_spend) <= account.policy.spending.discretionary_window_days + 2


@pytest.mark.parametrize("first", [date(2018, 4, 27), date(2025, 4, 25), date(2026, 1, 16)],
                         ids=["fits a monthly day (UK seed 0)", "fits a monthly day (2025)", "does not"])
def test_a_four_weekly_salary_keeps_every_payment_and_its_rhythm(first: date) -> None:
    # Two Fridays 28 days apart can both be "the 27th" (the 27th of May a Sunday, paid on the Friday before): the
    # series predicts the 27th of June, but the third pay comes on the 22nd, five days before. It is the
    # payroll's next payment: missing it would leave a gap that reads as irregular income, and the forecast
    # would lose the customer's payday.
    account = Account()
    days = [first + timedelta(days=28 * i) for i in range(6)]
    for day in days:
        account.salary(day)
    series = account.state.series["C:acme-payroll"]
    assert [o.day for o in series.occurrences] == days
    assert (series.rhythm, series.next_due) == ("FOUR_WEEKLY", days[-1] + timedelta(days=28))
