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
PAYMENT_AT_RISK = "PAYMENT_AT_RISK"
MORTGAGE_PAYMENT_RETURNED = "MORTGAGE_PAYMENT_RETURNED"
INCOME_FALLING = "INCOME_FALLING"
RETURNED_DIRECT_DEBITS = "RETURNED_DIRECT_DEBITS"
PAYDAY_LOAN = "PAYDAY_LOAN"
RISING_OVERDRAFT = "RISING_OVERDRAFT"
GAMBLING_SHARE_RISING = "GAMBLING_SHARE_RISING"
STRONG = frozenset({SALARY_MISSING, PAYMENT_AT_RISK, MORTGAGE_PAYMENT_RETURNED, INCOME_FALLING})
WEIGHTS = {SALARY_MISSING: 1.0, PAYMENT_AT_RISK: 1.0, MORTGAGE_PAYMENT_RETURNED: 1.0, INCOME_FALLING: 0.8,
           RETURNED_DIRECT_DEBITS: 0.6, PAYDAY_LOAN: 0.5, RISING_OVERDRAFT: 0.4, GAMBLING_SHARE_RISING: 0.4}
# A salary this many days before its expected date still counts as that month's salary.
EARLY_SALARY_DAYS = 5


@dataclass(frozen=True)
class Signal:
    code: str
    text: str             # plain words, e.g. "Your salary from ACME usually arrives on the 25th ..."
    weight: float
    since: date           # when the signal first became true (e.g. the day after the grace period)


@dataclass(frozen=True)
class Context:
    """What the bank knows beyond the transactions: the profile's payday and income, the overdraft limit,
    and the next mortgage payment. All optional: 0 / None = unknown."""

    payday: int = 0
    monthly_income_minor: int = 0
    overdraft_limit_minor: int = 0
    next_due: date | None = None
    next_payment_minor: int = 0


def add_months(day: date, months: int, on_day: int) -> date:
    """`on_day` of the month `months` after `day`'s month, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(on_day, last))


def last_occurrence(day_of_month: int, today: date) -> date:
    """The latest `day_of_month` (clamped to the month's end) on or before `today`."""
    this_month = add_months(today, 0, day_of_month)
    return this_month if this_month <= today else add_months(today, -1, day_of_month)


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


def detect(activity: Activity, today: date, th: SignalThresholds, context: Context | None = None) -> list[Signal]:
    """Every signal true on `today` (the activity must include everything booked up to `today`)."""
    ctx = context or Context()
    signals = _salary_signals(activity, today, th, ctx)
    at_risk = _payment_at_risk(activity, today, th, ctx)
    if at_risk is not None:
        signals.append(at_risk)
    for check in (_returned_debits, _payday_loans, _overdraft, _gambling):
        found = check(activity, today, th)
        if found is not None:
            signals.append(found)
    return sorted(signals, key=lambda s: -s.weight)


def _salary_signals(activity: Activity, today: date, th: SignalThresholds, ctx: Context) -> list[Signal]:
    found: list[Signal] = []
    cur = activity.currency
    tracked = [s for s in activity.salaries.values() if len(s.dates) >= th.salary_min_history]
    for stream in tracked:
        expectation = expected_next_salary(stream)
        if expectation is None:
            continue
        expected, usual_day = expectation
        overdue_from = expected + timedelta(days=th.salary_grace_days + 1)
        if today >= overdue_from and not _replaced(activity, stream, _usual(stream, ctx), th):
            when = (f"usually arrives on the {w.ordinal(usual_day)}" if usual_day
                    else f"was expected on {expected.strftime('%d %B')}")
            found.append(Signal(SALARY_MISSING, f"Your salary from {stream.payer} {when} and hasn't arrived yet.",
                                WEIGHTS[SALARY_MISSING], overdue_from))
    if not tracked and ctx.payday and ctx.monthly_income_minor:
        missing = _missing_by_profile(activity, today, th, ctx)
        if missing is not None:
            found.append(missing)
    if not any(s.code == SALARY_MISSING for s in found):
        falling = _income_falling(activity, th, ctx, cur)
        if falling is not None:
            found.append(falling)
    return found


def _usual(stream: SalaryStream, ctx: Context) -> int:
    """The usual salary: the median of the earlier payments, or the profile's income when that is higher."""
    prior = stream.amounts[:-1]
    usual = int(median(prior)) if prior else 0
    return max(usual, ctx.monthly_income_minor)


def _missing_by_profile(activity: Activity, today: date, th: SignalThresholds, ctx: Context) -> Signal | None:
    """Too little salary history: expect the salary on the profile's payday."""
    expected = last_occurrence(ctx.payday, today)
    overdue_from = expected + timedelta(days=th.salary_grace_days + 1)
    seen_from = expected - timedelta(days=EARLY_SALARY_DAYS)
    if today < overdue_from or activity.first_seen is None or activity.first_seen > seen_from:
        return None
    floor = ctx.monthly_income_minor * th.income_drop_ratio
    for stream in activity.salaries.values():
        for day, amount in zip(stream.dates, stream.amounts, strict=True):
            if day >= seen_from and amount >= floor:
                return None
    return Signal(SALARY_MISSING, f"Your salary usually arrives on the {w.ordinal(ctx.payday)} and hasn't "
                                  "arrived yet.", WEIGHTS[SALARY_MISSING], overdue_from)


def _income_falling(activity: Activity, th: SignalThresholds, ctx: Context, cur: str) -> Signal | None:
    for stream in activity.salaries.values():
        usual = _usual(stream, ctx)
        if usual and (len(stream.amounts) > 1 or ctx.monthly_income_minor) \
                and Fraction(stream.amounts[-1], usual) < th.income_drop_ratio:
            return Signal(INCOME_FALLING,
                          f"Your last salary from {stream.payer} was {w.money(stream.amounts[-1], cur)}, "
                          f"less than your usual {w.money(usual, cur)}.", WEIGHTS[INCOME_FALLING], stream.dates[-1])
    return None


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


def _expected_income_before(activity: Activity, today: date, due: date, th: SignalThresholds, ctx: Context) -> int:
    """Salary still expected between now and the due date (a salary within its grace period counts)."""
    total, known = 0, False
    for stream in activity.salaries.values():
        expectation = expected_next_salary(stream)
        if expectation is not None:
            known = True
            expected = expectation[0]
            if today <= expected + timedelta(days=th.salary_grace_days) and expected <= due:
                total += _usual(stream, ctx)
    if not known and ctx.payday and ctx.monthly_income_minor:
        day = last_occurrence(ctx.payday, due)
        if today - timedelta(days=th.salary_grace_days) <= day <= due:
            total += ctx.monthly_income_minor
    return total


def _payment_at_risk(activity: Activity, today: date, th: SignalThresholds, ctx: Context) -> Signal | None:
    """The balance, the overdraft left and the salary still due won't cover the next mortgage payment."""
    if ctx.next_due is None or not ctx.next_payment_minor or activity.balance_minor is None:
        return None
    available = activity.balance_minor + ctx.overdraft_limit_minor
    coming = _expected_income_before(activity, today, ctx.next_due, th, ctx)
    if available + coming >= ctx.next_payment_minor:
        return None
    cur = activity.currency
    return Signal(PAYMENT_AT_RISK,
                  f"Your balance of {w.money(activity.balance_minor, cur)} may not cover your mortgage payment of "
                  f"{w.money(ctx.next_payment_minor, cur)} due on {ctx.next_due.strftime('%d %B')}.",
                  WEIGHTS[PAYMENT_AT_RISK], today)


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
    before = [d for d in activity.days if d < start]
    overdrawn = False
    if before:
        low = activity.days[max(before)].lowest_balance_minor
        overdrawn = low is not None and low < 0
    count, day = 0, start
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
    if not any((s.lowest_balance_minor or 0) < 0 for s in activity.days.values()):
        return None
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
