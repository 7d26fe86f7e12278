"""Early-warning signals of mortgage payment difficulty, read from a customer's recent activity. Pure.

Signals (industry lists, reference/mortgage.md): a salary missing past its expected date (after a grace
period, so a salary a day or two late is not a signal), falling income, rising overdraft use, bounced
direct debits, short-term (payday) loans, and a rising share of gambling spend (MCC 7995).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from statistics import median

from services.mortgage import wording as w
from services.mortgage.activity import Activity, SalaryStream
from services.mortgage.policy import SignalThresholds

MONTHLY_GAP_DAYS = (25, 35)   # a salary paid every 25-35 days is monthly: expected on its usual day

# Signal codes, strongest first. A strong signal on its own justifies an offer; weak ones need company.
SALARY_MISSING = "SALARY_MISSING"
MORTGAGE_PAYMENT_RETURNED = "MORTGAGE_PAYMENT_RETURNED"
INCOME_FALLING = "INCOME_FALLING"
RETURNED_DIRECT_DEBITS = "RETURNED_DIRECT_DEBITS"
PAYDAY_LOAN = "PAYDAY_LOAN"
RISING_OVERDRAFT = "RISING_OVERDRAFT"
GAMBLING_SHARE_RISING = "GAMBLING_SHARE_RISING"
STRONG = frozenset({SALARY_MISSING, MORTGAGE_PAYMENT_RETURNED, INCOME_FALLING})
WEIGHTS = {SALARY_MISSING: 1.0, MORTGAGE_PAYMENT_RETURNED: 1.0, INCOME_FALLING: 0.8, RETURNED_DIRECT_DEBITS: 0.6,
           PAYDAY_LOAN: 0.5, RISING_OVERDRAFT: 0.4, GAMBLING_SHARE_RISING: 0.4}


@dataclass(frozen=True)
class Signal:
    code: str
    text: str             # plain words, e.g. "Your salary from ACME usually arrives on the 25th ..."
    weight: float
    since: date           # when the signal first became true (e.g. the day after the grace period)


def add_months(day: date, months: int, on_day: int) -> date:
    """`on_day` of the month `months` after `day`'s month, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(on_day, last))


def expected_next_salary(stream: SalaryStream) -> tuple[date, int | None] | None:
    """When the next payment of a stream is due, and its usual day of month (monthly streams only)."""
    if len(stream.dates) < 2:
        return None
    gaps = [(b - a).days for a, b in zip(stream.dates, stream.dates[1:], strict=False)]
    gap = median(gaps)
    last = stream.dates[-1]
    if MONTHLY_GAP_DAYS[0] <= gap <= MONTHLY_GAP_DAYS[1]:
        usual_day = int(median(d.day for d in stream.dates))
        expected = add_months(last, 1, usual_day)
        if (expected - last).days < MONTHLY_GAP_DAYS[0]:   # paid late last month: next one is still a month on
            expected = add_months(last, 2, usual_day)
        return expected, usual_day
    return last + timedelta(days=round(gap)), None


def detect(activity: Activity, today: date, th: SignalThresholds) -> list[Signal]:
    """Every signal true on `today` (the activity must include everything booked up to `today`)."""
    signals = _salary_signals(activity, today, th)
    for check in (_returned_debits, _payday_loans, _overdraft, _gambling):
        found = check(activity, today, th)
        if found is not None:
            signals.append(found)
    return sorted(signals, key=lambda s: -s.weight)


def _salary_signals(activity: Activity, today: date, th: SignalThresholds) -> list[Signal]:
    found: list[Signal] = []
    cur = activity.currency
    for stream in activity.salaries.values():
        if len(stream.dates) < th.salary_min_history:
            continue
        usual = int(median(stream.amounts[:-1])) if len(stream.amounts) > 1 else stream.amounts[-1]
        expectation = expected_next_salary(stream)
        if expectation is not None:
            expected, usual_day = expectation
            overdue_from = expected + timedelta(days=th.salary_grace_days + 1)
            if today >= overdue_from and not _replaced(activity, stream, usual, th):
                when = (f"usually arrives on the {w.ordinal(usual_day)}" if usual_day
                        else f"was expected on {expected.strftime('%d %B')}")
                found.append(Signal(SALARY_MISSING,
                                    f"Your salary from {stream.payer} {when} and hasn't arrived yet.",
                                    WEIGHTS[SALARY_MISSING], overdue_from))
                continue
        if len(stream.amounts) > 1 and Fraction(stream.amounts[-1], max(usual, 1)) < th.income_drop_ratio:
            found.append(Signal(INCOME_FALLING,
                                f"Your last salary from {stream.payer} was {w.money(stream.amounts[-1], cur)}, "
                                f"less than your usual {w.money(usual, cur)}.",
                                WEIGHTS[INCOME_FALLING], stream.dates[-1]))
    return found


def _replaced(activity: Activity, stopped: SalaryStream, usual: int, th: SignalThresholds) -> bool:
    """A new salary of a similar size from another payer since the last one: a change of job, not a loss."""
    last = stopped.dates[-1]
    for other in activity.salaries.values():
        if other is stopped:
            continue
        for day, amount in zip(other.dates, other.amounts, strict=True):
            if day > last and Fraction(amount, max(usual, 1)) >= th.income_drop_ratio:
                return True
    return False


def _window(today: date, days: int, offset: int = 0) -> tuple[date, date]:
    """The `days` days ending `offset` days before `today` (inclusive bounds)."""
    end = today - timedelta(days=offset)
    return end - timedelta(days=days - 1), end


def _returned_debits(activity: Activity, today: date, th: SignalThresholds) -> Signal | None:
    start, end = _window(today, th.lookback_days)
    mortgage = [d for d in activity.mortgage_returned if start <= d <= end]
    if mortgage:
        return Signal(MORTGAGE_PAYMENT_RETURNED, "Your last mortgage payment couldn't be collected.",
                      WEIGHTS[MORTGAGE_PAYMENT_RETURNED], mortgage[-1])
    recent = [r for r in activity.returned_debits if start <= r[0] <= end]
    if len(recent) < th.returned_direct_debits_min:
        return None
    payees = sorted({p for _, p, _ in recent})
    what = "A direct debit" if len(recent) == 1 else f"{len(recent)} direct debits"
    return Signal(RETURNED_DIRECT_DEBITS,
                  f"{what} couldn't be paid in the last {th.lookback_days} days ({', '.join(payees)}).",
                  WEIGHTS[RETURNED_DIRECT_DEBITS], recent[0][0])


def _payday_loans(activity: Activity, today: date, th: SignalThresholds) -> Signal | None:
    start, end = _window(today, th.lookback_days)
    recent = [r for r in activity.short_term_loans if start <= r[0] <= end]
    if not recent:
        return None
    day, lender, amount = recent[-1]
    return Signal(PAYDAY_LOAN,
                  f"You received a short-term loan of {w.money(amount, activity.currency)} from {lender} "
                  f"on {day.strftime('%d %B')}.", WEIGHTS[PAYDAY_LOAN], day)


def _overdrawn_days(activity: Activity, start: date, end: date) -> int:
    """Days in [start, end] ending below zero; a day without transactions keeps the previous day's state."""
    overdrawn, count = False, 0
    known = sorted(d for d in activity.days if d < start)
    if known:
        low = activity.days[known[-1]].lowest_balance_minor
        overdrawn = low is not None and low < 0
    day = start
    while day <= end:
        stats = activity.days.get(day)
        if stats is not None and stats.lowest_balance_minor is not None:
            overdrawn = stats.lowest_balance_minor < 0
        count += overdrawn
        day += timedelta(days=1)
    return count


def _has_history(activity: Activity, start: date) -> bool:
    return any(d <= start for d in activity.days)


def _overdraft(activity: Activity, today: date, th: SignalThresholds) -> Signal | None:
    start, end = _window(today, th.lookback_days)
    recent = _overdrawn_days(activity, start, end)
    if recent < th.overdraft_days_min:
        return None
    b_start, b_end = _window(today, th.baseline_days, th.lookback_days)
    if not _has_history(activity, b_start + timedelta(days=th.baseline_days // 2)):
        return None
    baseline = Fraction(_overdrawn_days(activity, b_start, b_end) * th.lookback_days, th.baseline_days)
    if recent < baseline * th.overdraft_days_rise_ratio:
        return None
    return Signal(RISING_OVERDRAFT,
                  f"Your account was overdrawn on {recent} of the last {th.lookback_days} days, "
                  f"up from about {round(baseline)} before.", WEIGHTS[RISING_OVERDRAFT], end)


def _gambling(activity: Activity, today: date, th: SignalThresholds) -> Signal | None:
    def share(start: date, end: date) -> Fraction | None:
        spend = gambling = 0
        for day, stats in activity.days.items():
            if start <= day <= end:
                spend += stats.spend_minor
                gambling += stats.gambling_minor
        return Fraction(gambling, spend) if spend else None

    start, end = _window(today, th.lookback_days)
    recent = share(start, end)
    if recent is None or recent < th.gambling_share_min:
        return None
    b_start, b_end = _window(today, th.baseline_days, th.lookback_days)
    if not _has_history(activity, b_start + timedelta(days=th.baseline_days // 2)):
        return None
    baseline = share(b_start, b_end) or Fraction(0)
    if recent < baseline * th.gambling_share_rise_ratio:
        return None
    return Signal(GAMBLING_SHARE_RISING,
                  f"Gambling was {w.pct(recent, 0)} of your spending in the last {th.lookback_days} days, "
                  f"up from {w.pct(baseline, 0)}.", WEIGHTS[GAMBLING_SHARE_RISING], end)
