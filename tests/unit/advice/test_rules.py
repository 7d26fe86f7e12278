from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.advice.forecast import Forecast
from services.advice.policy import policy_book
from services.advice.rules.payments import PRICE_INCREASE
from services.advice.rules.shortfall import TYPE as SHORTFALL
from services.advice.rules.shortfall import when_paid
from services.advice.state import CustomerState
from tests.unit.advice.builders import Account, at, daily, months


def live(account: Account, start: date, days: int, *, salary: int, payday: int,
         bills: list[tuple[int, int, str]], spend: int) -> dict[date, int]:
    """Run a customer's ordinary life day by day; returns the end-of-day balance."""
    balances = {}
    for day in daily(start, days):
        if day.day == payday:
            account.salary(day, salary)
        for bill_day, amount, payee in bills:
            if day.day == bill_day:
                account.tx(at(day, 7), amount, channel="DIRECT_DEBIT", payee=payee, name=payee.title(), mcc="6513")
        account.tx(at(day, 13), spend, mcc="5411", payee="", name="Grocer")
        balances[day] = account.balance
    return balances


# ---- price increase ------------------------------------------------------------------------------------

def test_a_subscription_price_rise_makes_exactly_one_nudge_with_old_and_new_amounts() -> None:
    account = Account()
    for day, amount in zip(months(date(2026, 1, 5), 5, 5), [999, 999, 999, 1299, 1299], strict=True):
        account.tx(at(day), amount, channel="CARD_NOT_PRESENT", payee="streamflix", name="StreamFlix", mcc="4899")
    nudges = account.nudges(PRICE_INCREASE)
    assert len(nudges) == 1
    nudge = nudges[0]
    assert (nudge.data["old_amount_minor"], nudge.data["new_amount_minor"]) == ("999", "1299")
    assert "£9.99" in nudge.body and "£12.99" in nudge.body
    assert {r.code for r in nudge.reasons} >= {"PRICE_INCREASE"}


def test_a_second_rise_inside_the_refire_window_is_held_back() -> None:
    account = Account()
    start = date(2026, 1, 2)
    for week, amount in enumerate([500, 500, 500, 600, 700]):
        account.tx(at(start + timedelta(weeks=week)), amount, channel="CARD_NOT_PRESENT", payee="cloud",
                   name="CloudBox", mcc="5817")
    assert len(account.nudges(PRICE_INCREASE)) == 1
    held = [why for e in account.evaluations for c, why in e.held_back if c.type == PRICE_INCREASE]
    assert held == ["REFIRE_WINDOW"]


def test_a_rise_below_both_thresholds_makes_no_nudge() -> None:
    account = Account()
    for day, amount in zip(months(date(2026, 1, 5), 4, 5), [10_000, 10_000, 10_000, 10_050], strict=True):
        account.tx(at(day), amount, channel="DIRECT_DEBIT", payee="insure", name="Insurer", mcc="6300")
    assert account.nudges(PRICE_INCREASE) == []  # +0.50 and +0.5%: neither threshold met


def test_a_price_drop_makes_no_nudge() -> None:
    account = Account()
    for day, amount in zip(months(date(2026, 1, 5), 4, 5), [1299, 1299, 1299, 999], strict=True):
        account.tx(at(day), amount, channel="CARD_NOT_PRESENT", payee="streamflix", name="StreamFlix", mcc="4899")
    assert account.nudges(PRICE_INCREASE) == []


# ---- projected shortfall ------------------------------------------------------------------------------

def test_a_forecast_shortfall_names_the_day_and_the_amount_before_it_happens() -> None:
    account = Account(balance=60_000)
    bills = [(1, 120_000, "landlord"), (18, 35_000, "energy")]
    balances = live(account, date(2026, 1, 1), 120, salary=200_000, payday=25, bills=bills, spend=2_000)
    nudges = account.nudges(SHORTFALL)
    assert nudges, "the balance drifts below zero before payday: a shortfall nudge is due"
    first = nudges[0]
    negative_day = date.fromisoformat(first.data["negative_day"])
    fired_on = next(e.observation.today for e in account.evaluations if first in e.candidates)
    assert negative_day > fired_on
    # the account really does go below zero on or before the named day when the customer does nothing
    actual = min(d for d, b in balances.items() if b < 0 and d >= fired_on)
    assert abs((actual - negative_day).days) <= 1
    shortfall = int(first.data["shortfall_minor"])
    assert shortfall > 0
    assert f"£{shortfall / 100:,.2f}" in first.title
    assert negative_day.strftime("%-d %b") in first.title
    assert first.data["fix"] in {"MOVE_FROM_SAVINGS", "ARRANGED_OVERDRAFT", "SALARY_ADVANCE", "TALK_TO_US"}
    assert any(r.code == f"FIX_{first.data['fix']}" for r in first.reasons)
    # decided on the odds from the customer's own spending, and said so in plain words
    chance = next(r for r in first.reasons if r.code == "CHANCE_BELOW_ZERO")
    assert f"about {first.data['chance_percent']}%" in chance.text
    assert f"about a {first.data['chance_percent']}% chance" in first.body


def test_a_policy_without_min_chance_decides_on_the_average_day() -> None:
    earlier = policy_book().at(datetime(2018, 1, 15, tzinfo=UTC))
    assert "min_chance" not in earlier.rule(SHORTFALL).params
    account = Account(balance=60_000, policy=earlier)
    live(account, date(2026, 1, 1), 120, salary=200_000, payday=25,
         bills=[(1, 120_000, "landlord"), (18, 35_000, "energy")], spend=2_000)
    first = account.nudges(SHORTFALL)[0]
    assert "chance_percent" not in first.data
    assert first.reasons[0].code == "FORECAST_BELOW_ZERO"


def test_the_fix_is_moving_money_from_savings_when_savings_cover_it() -> None:
    account = Account(balance=60_000)
    account.profile(savings_balance_minor=500_000)
    live(account, date(2026, 1, 1), 120, salary=200_000, payday=25,
         bills=[(1, 120_000, "landlord"), (18, 35_000, "energy")], spend=2_000)
    first = account.nudges(SHORTFALL)[0]
    assert first.data["fix"] == "MOVE_FROM_SAVINGS"
    amount = int(first.data["fix_amount_minor"])
    assert amount >= int(first.data["shortfall_minor"]) and amount % 1000 == 0
    assert f"Move £{amount / 100:,.2f} from your savings" in first.body


def test_no_shortfall_nudge_when_the_salary_arrives_before_the_balance_runs_out() -> None:
    account = Account(balance=160_000)
    # the balance runs low just before payday (25th), but the salary lands before it goes below zero
    balances = live(account, date(2026, 1, 1), 120, salary=200_000, payday=25,
                    bills=[(1, 120_000, "landlord"), (27, 35_000, "energy")], spend=1_500)
    assert 0 <= min(balances.values()) < 10_000, "the scenario must run close to zero"
    assert account.nudges(SHORTFALL) == []


def test_no_shortfall_nudge_for_a_customer_who_stays_in_credit() -> None:
    account = Account(balance=200_000)
    live(account, date(2026, 1, 1), 120, salary=260_000, payday=25,
         bills=[(1, 120_000, "landlord"), (18, 35_000, "energy")], spend=2_000)
    assert account.nudges(SHORTFALL) == []


def _fix_for(shortfall: int, days_short: int, *, savings: int = 0, overdraft_limit: int = 0,
             income: int = 200_000) -> str:
    from services.advice.forecast import Forecast
    from services.advice.rules.base import RuleContext
    from services.advice.rules.shortfall import choose_fix

    account = Account()
    account.profile(savings_balance_minor=savings, overdraft_limit_minor=overdraft_limit,
                    monthly_income_minor=income)
    evaluation = account.tx(at(date(2026, 3, 1)), 100)
    today = evaluation.observation.today
    negative = today + timedelta(days=2)
    forecast = Forecast(today=today, payday=negative + timedelta(days=days_short), start_balance_minor=1000,
                        daily_spend_minor=0, lowest_balance_minor=-shortfall, lowest_day=negative,
                        first_negative_day=negative, outgoings_minor=shortfall, upcoming=(), balances=())
    ctx = RuleContext(account.state, evaluation.observation, account.policy, at(today), forecast)
    return choose_fix(ctx, forecast, account.policy.rule(SHORTFALL).params).code


def test_the_fix_is_the_cheapest_option_that_covers_the_shortfall() -> None:
    assert _fix_for(30_000, 5, savings=50_000) == "MOVE_FROM_SAVINGS"  # free
    # 100.00 for 5 days at 39.90% APR costs 0.55: cheaper than the 5.00 advance fee
    assert _fix_for(10_000, 5, overdraft_limit=50_000) == "ARRANGED_OVERDRAFT"
    # 800.00 for 20 days costs 17.49 in interest: the advance's flat 5.00 is cheaper
    assert _fix_for(80_000, 20, overdraft_limit=100_000) == "SALARY_ADVANCE"
    # more than half the pay and beyond the overdraft: no product fits, a conversation does
    assert _fix_for(150_000, 10, overdraft_limit=50_000) == "TALK_TO_US"


# ---- fixed and variable bills ---------------------------------------------------------------------------

def _bill(account: Account, amounts: list[int], payee: str = "powergas", name: str = "Power & Gas") -> None:
    for day, amount in zip(months(date(2026, 1, 12), len(amounts), 12), amounts, strict=True):
        account.tx(at(day), amount, channel="DIRECT_DEBIT", payee=payee, name=name, mcc="4900")


def test_a_variable_bill_inside_its_usual_range_makes_no_nudge() -> None:
    account = Account()
    _bill(account, [5_563, 6_585, 5_020, 6_990, 5_870, 6_400, 5_500, 6_950])
    assert account.nudges(PRICE_INCREASE) == []


def test_a_variable_bill_above_its_usual_range_is_worded_as_such_once() -> None:
    account = Account()
    _bill(account, [5_563, 6_585, 5_020, 6_990, 8_510, 8_300, 6_100])
    nudges = account.nudges(PRICE_INCREASE)
    assert len(nudges) == 1
    assert "higher than your usual £50.20-£69.90" in nudges[0].body and "a year" not in nudges[0].body
    assert nudges[0].data["bill_kind"] == "VARIABLE"


def test_a_fixed_price_that_steps_up_and_stays_makes_one_nudge() -> None:
    account = Account()
    _bill(account, [1_099] * 4 + [1_299] * 4, payee="streamflix", name="StreamFlix")
    nudges = account.nudges(PRICE_INCREASE)
    assert len(nudges) == 1 and nudges[0].data["bill_kind"] == "FIXED"
    assert "That's £24.00 more a year" in nudges[0].body


def test_an_overdrawn_customer_is_warned_of_going_below_zero_again_after_payday() -> None:
    """Overdrawn until the pay on the 25th, which the rent on the 27th takes straight back below zero: the
    forecast runs past that close payday (pay credited) and warns of the overdraft that starts again."""
    account = Account(balance=-30_000)
    balances = live(account, date(2026, 1, 1), 120, salary=200_000, payday=25,
                    bills=[(27, 185_000, "landlord")], spend=500)
    warned = [c for e in account.evaluations for c in e.candidates if c.type == SHORTFALL
              and e.forecast is not None and e.forecast.start_balance_minor < 0]
    assert warned, "a warning given while still overdrawn"
    negative_day = date.fromisoformat(warned[-1].data["negative_day"])
    assert negative_day.day == 27 and date.fromisoformat(warned[-1].data["payday"]) < negative_day
    assert balances[negative_day] < 0 <= balances[negative_day - timedelta(days=2)]   # it really does


def test_an_overdrawn_customer_is_warned_that_the_rent_on_payday_takes_the_pay_straight_back_below_zero() -> None:
    """Overdrawn until the pay at 06:00 on the 25th, which the rent at 07:00 the same day takes back below zero:
    the pay ends one overdraft and the rent starts another that very day (the bank books the pay first), so the
    warning comes while the customer is still overdrawn, days before, naming the payday itself (Wednesday 25
    March: no weekend moves the pay)."""
    account = Account(balance=-30_000)
    balances = live(account, date(2026, 1, 1), 120, salary=200_000, payday=25,
                    bills=[(25, 185_000, "landlord")], spend=500)
    payday = date(2026, 3, 25)
    warned = [e.forecast.today for e in account.evaluations for c in e.candidates if c.type == SHORTFALL
              and e.forecast is not None and e.forecast.start_balance_minor < 0
              and c.data["negative_day"] == c.data["payday"] == payday.isoformat()]
    assert warned and min(warned) <= payday - timedelta(days=2), warned
    assert balances[payday] < 0 and balances[payday - timedelta(days=1)] < 0   # overdrawn on both days
    # the forecast that warned: above zero once the pay is in, below once the rent has gone, on the same day
    forecast = next(e.forecast for e in account.evaluations if e.forecast is not None
                    and e.forecast.today == min(warned))
    assert dict(forecast.scheduled)[payday] < 0 < dict(forecast.peaks)[payday]
    warning = next(c for e in account.evaluations if e.forecast is not None and e.forecast.today == min(warned)
                   for c in e.candidates if c.type == SHORTFALL)
    assert "the day your pay is due, and what goes out that day takes it back below zero" in warning.body


@pytest.mark.parametrize(("days_before", "text"), [
    (3, "3 days before your pay is due on Fri 27 Mar"),
    (1, "the day before your pay is due on Fri 27 Mar"),
    (0, "the day your pay is due (Fri 27 Mar), and what goes out that day takes it back below zero"),
    (-1, "1 day after your pay on Fri 27 Mar"),
    (-2, "2 days after your pay on Fri 27 Mar"),
])
def test_the_day_below_zero_is_told_against_the_pay_never_as_zero_or_minus_days(days_before: int, text: str) -> None:
    assert when_paid(days_before, "Fri 27 Mar") == text


def _first_pay_forecast(pay: int, pay_seen_once: bool = True) -> tuple[Account, Forecast]:
    """A new customer (monthly income 400,000 on the profile, payday the 28th) paid once, on Monday 5 January,
    seen up to Sunday 11 January: the forecast of that evening."""
    account = Account(balance=60_000)
    if not pay_seen_once:
        account.policy = account.policy.model_copy(update={"forecast": account.policy.forecast.model_copy(
            update={"pay_seen_once": False})})
    account.profile(payday=28, monthly_income_minor=400_000)
    for day in daily(date(2026, 1, 1), 11):
        if day == date(2026, 1, 5):
            account.tx(at(day, 6), pay, credit=True, channel="SALARY", payee="acme-payroll", name="ACME Ltd")
        account.tx(at(day, 13), 4_000, mcc="5411", payee="", name="Grocer")
    forecast = account.evaluations[-1].forecast
    assert forecast is not None
    return account, forecast


def test_a_new_customer_s_first_pay_is_expected_again_on_the_rhythm_its_size_tells() -> None:
    """One pay seen and no series yet: a quarter of the profile's monthly income is weekly pay, about half is paid
    every two weeks, so the forecast expects it again a week or two on, not on the profile's payday (the 28th),
    and credits that pay (inside the path's 6-day minimum), not a month's income; the odds leave the pay out of
    the past days the path counts it in. A pay of a month's size keeps the profile's payday, as does the policy
    without `pay_seen_once`."""
    for pay, payday, credited in ((92_000, date(2026, 1, 12), [(date(2026, 1, 12), 92_000)]),
                                  (184_000, date(2026, 1, 19), []),   # the path runs to the day before payday
                                  (400_000, date(2026, 1, 28), [])):
        account, forecast = _first_pay_forecast(pay)
        assert forecast.payday == payday, pay
        assert [(u.day, u.amount_minor) for u in forecast.upcoming if u.amount_minor > 0] == credited
        past = account.state.daily_outflow_history(forecast.today, 56, forecast.pay_seen_once)
        assert (min(past) > 0) == (pay < 400_000), pay   # the scheduled pay is not netted off the past days
        stored = CustomerState.from_dict(json.loads(json.dumps(account.state.to_dict())))
        assert stored.pay_seen_once() == account.state.pay_seen_once() is not None   # kept with the state
    _, before = _first_pay_forecast(92_000, pay_seen_once=False)
    assert before.payday == date(2026, 1, 28) and before.pay_seen_once is None


def test_a_customer_on_gig_income_is_forecast_without_a_payday() -> None:
    """Payouts every one to four days, no salary: the profile's payday (the 25th) is not when money comes. The
    forecast credits no pay and runs its minimum horizon; the payouts count by their own history (the odds), and
    a warning says so instead of naming a payday."""
    rng = random.Random(3)
    account = Account(balance=40_000)
    account.profile(payday=25, monthly_income_minor=200_000)
    payout_day = date(2026, 1, 2)
    for day in daily(date(2026, 1, 1), 120):
        if day == payout_day:
            account.tx(at(day, 6), rng.randint(8_000, 20_000), credit=True, channel="SALARY", payee="ridenow",
                       name="RideNow")
            payout_day += timedelta(days=rng.randint(1, 4))
        if day.day == 27:
            account.tx(at(day, 7), 80_000, channel="DIRECT_DEBIT", payee="landlord", name="Landlord", mcc="6513")
        account.tx(at(day, 13), 3_000, mcc="5411", payee="", name="Grocer")
    assert account.state.series["C:ridenow"].rhythm == "IRREGULAR"
    forecasts = [e.forecast for e in account.evaluations[-60:] if e.forecast is not None]
    assert forecasts and all(f.payday is None for f in forecasts)
    assert all(u.name != "RideNow" and u.name != "Pay" for f in forecasts for u in f.upcoming)
    assert {len(f.balances) for f in forecasts} == {account.policy.forecast.min_horizon_days}
    warned = [c for e in account.evaluations for c in e.candidates if c.type == SHORTFALL
              and e.forecast is not None and e.forecast.payday is None]
    assert warned, "the rent still comes: warned on the odds"
    assert all(c.data["payday"] == "" and "payday" not in c.body for c in warned)
    assert all("IRREGULAR_INCOME" in {r.code for r in c.reasons} for c in warned)
    # no salary to advance: without an overdraft to cover it, the fix is to talk to the bank
    assert {c.data["fix"] for c in warned} == {"TALK_TO_US"}
    assert all("more than your overdraft can cover" in c.body for c in warned)
