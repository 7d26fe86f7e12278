"""Balance forecast up to the next payday: today's balance, minus the bills and subscriptions predicted by the
recurring series (and, with `mandates_seen_once`, a direct debit seen once, again a month later), minus the
customer's usual discretionary spending a day, plus other regular income. `scheduled` is the same path without
the discretionary spending: the odds of an overdraft (`overdraft_odds.py`) start from it.

The salary is assumed to arrive on payday before that day's bills (the common bank ordering), so the
forecast covers today up to the day before payday.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from services.advice.income import IRREGULAR, days_to_next_pay, on_day
from services.advice.policy import Policy
from services.advice.recurring import Occurrence
from services.advice.state import CustomerState


@dataclass(frozen=True)
class Upcoming:
    day: date
    name: str
    amount_minor: int  # signed: negative leaves the account


@dataclass(frozen=True)
class Forecast:
    today: date
    payday: date | None  # None: the customer's income is irregular (gig payouts), there is no payday to run to
    start_balance_minor: int
    daily_spend_minor: int
    lowest_balance_minor: int
    lowest_day: date
    first_negative_day: date | None
    outgoings_minor: int  # everything projected to leave the account until payday
    upcoming: tuple[Upcoming, ...]
    balances: tuple[tuple[date, int], ...]  # projected end-of-day balance
    next_crossing_day: date | None = None  # the first day after today the path goes from >= 0 to below zero
    # end-of-day balance with the scheduled payments only (no discretionary spending): the odds start from it
    scheduled: tuple[tuple[date, int], ...] = ()
    # a pay seen once that the path expects again (`pay_seen_once`): the odds leave it out of the past days
    pay_seen_once: Occurrence | None = None
    # `scheduled` after each day's credits and before its debits (a pay is booked before the day's bills): a
    # pay that lifts an overdrawn balance above zero for a moment, before a bill or the day's spending takes it
    # below again, is a new overdraft that very day
    peaks: tuple[tuple[date, int], ...] = ()

    @property
    def shortfall_minor(self) -> int:
        return max(0, -self.lowest_balance_minor)

    @property
    def end(self) -> date:
        """The day after the path: payday, or the end of the horizon when there is none."""
        return self.today + timedelta(days=len(self.balances))

    def largest_bills_before(self, day: date, count: int = 2) -> list[Upcoming]:
        bills = [u for u in self.upcoming if u.amount_minor < 0 and u.day <= day]
        return sorted(bills, key=lambda u: u.amount_minor)[:count]


def next_payday(state: CustomerState, today: date) -> date | None:
    """The predicted date of the main income; the profile's payday when no income is known yet; None when the
    only income known is irregular (gig payouts: the profile's payday is not when they come)."""
    income = state.primary_income()
    if income is not None:
        return max(income.next_due, today + timedelta(days=1))
    if state.income_is_irregular():
        return None
    if state.profile is not None and 1 <= state.profile.payday <= 31:
        day = state.profile.payday
        year, month = today.year, today.month
        candidate = date(year, month, min(day, calendar.monthrange(year, month)[1]))
        if candidate <= today:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            candidate = date(year, month, min(day, calendar.monthrange(year, month)[1]))
        return candidate
    return None


def first_pay_again(state: CustomerState, today: date, policy: Policy) -> tuple[Occurrence, int] | None:
    """With `forecast.pay_seen_once`: a new customer's first pay (a payroll seen once, no income series yet) and
    how many days on it comes again, read from its share of the profile's monthly income (`days_to_next_pay`:
    weekly or fortnightly; pay of a month's size keeps the profile's payday). Not once two of those gaps have
    passed without it."""
    if not policy.forecast.pay_seen_once or state.profile is None or state.primary_income() is not None \
            or state.income_is_irregular():
        return None
    pay = state.pay_seen_once()
    step = None if pay is None else days_to_next_pay(pay.amount_minor, state.profile.monthly_income_minor)
    if pay is None or step is None or (today - pay.day).days > 2 * step:
        return None
    return pay, step


def _again_from(pay: date, step: int, today: date) -> date:
    """The first of `pay` + n x `step` days from tomorrow on (a pay due today that has not come is expected
    tomorrow, as a series' is)."""
    due = pay + timedelta(days=step)
    while due < today:
        due += timedelta(days=step)
    return max(due, today + timedelta(days=1))


def forecast_to_payday(state: CustomerState, today: date, policy: Policy) -> Forecast | None:
    """None when the picture is too thin to forecast: no balance, too little history, or no payday (unless the
    income is irregular: then the path runs `min_horizon_days` ahead, with no pay credited, and the odds count
    the payouts by their own history).

    The path runs to the day before payday, and at least `min_horizon_days` ahead: past a payday that close,
    the main income is credited on its expected dates (a customer overdrawn until payday may be back below zero
    a few days after it). Spending is the customer's usual day plus a margin for its own day-to-day
    variability (`spend_margin_sd` standard deviations of the sum so far: the uncertainty of k days of spending
    grows with the square root of k). `first_negative_day` is the first day below zero (today when already
    overdrawn); `next_crossing_day` the first later day the path goes from zero or more to below zero (a new
    overdraft, e.g. after the pay that ends the current one)."""
    config = policy.forecast
    if state.balance_minor is None or state.history_days(today) < config.min_history_days:
        return None
    first_pay = first_pay_again(state, today, policy)
    payday = _again_from(first_pay[0].day, first_pay[1], today) if first_pay else next_payday(state, today)
    if payday is None and not state.income_is_irregular():
        return None
    end = min(max(payday or today, today + timedelta(days=config.min_horizon_days)),
              today + timedelta(days=config.horizon_days_max))
    income = state.primary_income()
    upcoming: list[Upcoming] = []
    for series in state.active_series():
        if (income is not None and series.key == income.key) or series.rhythm == IRREGULAR:
            continue  # the main pay comes below; irregular income (gig payouts) has no dates: the odds count it
        # a payment predicted for an earlier day that has not arrived yet is expected today
        dates = series.due_dates(today, end)
        if series.next_due < today and series.days_overdue(today) <= policy.recurring.date_tolerance_days.get(
            series.period, 0
        ):
            dates = [today, *dates]
        sign = 1 if series.is_credit else -1
        upcoming.extend(Upcoming(d, series.name, sign * series.typical_amount_minor) for d in dates)
    if config.mandates_seen_once:  # a direct debit seen once: the same amount a month later
        for name, paid in state.mandates_seen_once():
            again = _month_later(paid.day)
            if today <= again < end:
                upcoming.append(Upcoming(again, name, -paid.amount_minor))
    if payday is not None and end > payday:  # the pay that comes inside the horizon
        if income is not None:
            # a payment expected earlier that has not arrived yet is expected on payday
            upcoming.extend(Upcoming(max(d, payday), income.name, income.typical_amount_minor)
                            for d in income.due_dates(min(income.next_due, payday), end))
        elif first_pay is not None:
            pay, step = first_pay
            upcoming.extend(Upcoming(payday + timedelta(days=step * i), "Pay", pay.amount_minor)
                            for i in range(((end - payday).days - 1) // step + 1))
        elif state.profile is not None and state.profile.monthly_income_minor > 0:
            upcoming.append(Upcoming(payday, "Pay", state.profile.monthly_income_minor))
        else:
            end = payday  # nothing known about the pay: no further than payday
    upcoming.sort(key=lambda u: (u.day, u.amount_minor))
    window = policy.spending.discretionary_window_days
    daily = int(state.daily_spend_minor(today, window) * config.daily_spend_multiplier)
    spread = state.daily_spend_sd_minor(today, window) * config.spend_margin_sd

    balance = state.balance_minor
    lowest, lowest_day = balance, today
    first_negative: date | None = today if balance < 0 else None
    crossing: date | None = None
    previous = balance
    outgoings = 0
    balances: list[tuple[date, int]] = []
    scheduled: list[tuple[date, int]] = []
    peaks: list[tuple[date, int]] = []
    planned = balance
    day = today
    while day < end:
        k = (day - today).days
        if day > today:  # today's usual spending is partly behind us already
            step = daily + int(spread * (k ** 0.5 - (k - 1) ** 0.5))
            balance -= step
            outgoings += step
        todays = [u for u in upcoming if u.day == day]
        peaks.append((day, planned + sum(u.amount_minor for u in todays if u.amount_minor > 0)))
        for item in todays:
            balance += item.amount_minor
            planned += item.amount_minor
            outgoings += max(0, -item.amount_minor)
        balances.append((day, balance))
        scheduled.append((day, planned))
        if balance < lowest:
            lowest, lowest_day = balance, day
        if balance < 0 and first_negative is None:
            first_negative = day
        if balance < 0 <= previous and day > today and crossing is None:
            crossing = day
        previous = balance
        day += timedelta(days=1)
    return Forecast(
        today=today, payday=payday, start_balance_minor=state.balance_minor, daily_spend_minor=daily,
        lowest_balance_minor=lowest, lowest_day=lowest_day, first_negative_day=first_negative,
        outgoings_minor=outgoings, upcoming=tuple(upcoming), balances=tuple(balances), next_crossing_day=crossing,
        scheduled=tuple(scheduled), pay_seen_once=first_pay[0] if first_pay else None, peaks=tuple(peaks),
    )


def _month_later(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return on_day(year, month, day.day)
