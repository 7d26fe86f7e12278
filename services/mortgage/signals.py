"""Early-warning signals of mortgage payment difficulty, read from a customer's recent activity. Pure.

Signals (industry lists, reference/mortgage.md): a salary missing past its expected date (after a grace
period, so a salary a day or two late is not a signal), falling income, rising overdraft use, bounced
direct debits, short-term (payday) loans, and a rising share of gambling spend (MCC 7995).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise

from services.advice import income
from services.advice.overdraft_odds import quantile, share_above, window_sums
from services.mortgage import wording as w
from services.mortgage.activity import KEEP_SALARIES, Activity, DayStats, SalaryStream
from services.mortgage.policy import SignalThresholds

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
PROFILE_SILENCE_DAYS = 35      # the profile's payday is judged only when no salary came in for this long
IRREGULAR_SILENCE_DAYS = 21    # irregular income: silent this long (or four of its longest gaps) is missing
IRREGULAR_SILENCE_GAPS = 4


@dataclass(frozen=True)
class Signal:
    code: str
    text: str             # plain words, e.g. "Your salary from ACME usually arrives on the 25th ..."
    weight: float
    since: date           # when the signal first became true (e.g. the day after the grace period)
    weak: bool = False    # a strong code judged on evidence that needs company (irregular income's fall)

    @property
    def strong(self) -> bool:
        return self.code in STRONG and not self.weak


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


def income_model(stream: SalaryStream) -> income.SourceModel | None:
    """The stream's income model (rhythm, expected date, usual amount), the same model advice uses."""
    return income.learn(list(zip(stream.dates, stream.amounts, strict=True)))


def detect(activity: Activity, today: date, th: SignalThresholds, context: Context | None = None) -> list[Signal]:
    """Every signal true on `today` (the activity must include everything booked up to `today`)."""
    ctx = context or Context()
    models = _models(activity, th)
    signals = _salary_signals(activity, models, today, th, ctx)
    at_risk = _payment_at_risk(activity, models, today, th, ctx)
    if at_risk is not None:
        signals.append(at_risk)
    for check in (_returned_debits, _payday_loans, _overdraft, _gambling):
        found = check(activity, today, th)
        if found is not None:
            signals.append(found)
    return sorted(signals, key=lambda s: -s.weight)


Models = list[tuple[SalaryStream, income.SourceModel]]   # the trusted income sources, with their streams


def _models(activity: Activity, th: SignalThresholds) -> Models:
    found = []
    for stream in activity.salaries.values():
        model = income_model(stream) if len(stream.dates) >= th.salary_min_history else None
        if model is not None and model.trusted:
            found.append((stream, model))
    return found


def _salary_signals(activity: Activity, models: Models, today: date, th: SignalThresholds,
                    ctx: Context) -> list[Signal]:
    found: list[Signal] = []
    for stream, model in models:
        missing = _missing(activity, stream, model, today, th)
        if missing is not None:
            found.append(missing)
    if not models and ctx.payday and ctx.monthly_income_minor:
        missing = _missing_by_profile(activity, today, th, ctx)
        if missing is not None:
            found.append(missing)
    if not any(s.code == SALARY_MISSING for s in found):
        falling = _income_falling(models, today, th, activity.currency)
        if falling is not None:
            found.append(falling)
    return found


def _missing(activity: Activity, stream: SalaryStream, model: income.SourceModel, today: date,
             th: SignalThresholds) -> Signal | None:
    """A regular payment past its expected date plus tolerance and grace; irregular income silent for far longer
    than its usual gaps."""
    late_from = model.late_from(th.salary_grace_days)
    if late_from is None:
        gaps = [(b - a).days for a, b in pairwise(stream.dates)]
        silent = max(IRREGULAR_SILENCE_DAYS, IRREGULAR_SILENCE_GAPS * max(gaps))
        late_from = model.last_paid + timedelta(days=silent + 1)
        when = f"usually arrives every few days, but nothing has come in for {silent} days"
    elif model.rhythm == income.MONTHLY and model.anchors:
        when = f"usually arrives on the {w.ordinal(model.anchors[0])} and hasn't arrived yet"
    else:
        expected = model.nominal or model.expected or model.last_paid
        when = f"({_rhythm_words(model)}) was expected on {expected.strftime('%d %B')} and hasn't arrived yet"
    if today < late_from or _replaced(activity, stream, model.usual_minor, th):
        return None
    return Signal(SALARY_MISSING, f"Your salary from {stream.payer} {when}.", WEIGHTS[SALARY_MISSING], late_from)


def _rhythm_words(model: income.SourceModel) -> str:
    return {income.WEEKLY: "paid weekly", income.BIWEEKLY: "paid every two weeks",
            income.SEMI_MONTHLY: "paid twice a month", income.FOUR_WEEKLY: "paid every four weeks",
            income.MONTHLY: "paid monthly",
            income.LAST_WORKING_DAY: "paid on the last working day of the month"}.get(model.rhythm, "")


def _missing_by_profile(activity: Activity, today: date, th: SignalThresholds, ctx: Context) -> Signal | None:
    """No income source learned yet: the profile's payday is the only hint. It is trusted only when no salary at
    all arrived in the last `PROFILE_SILENCE_DAYS` (a salary seen but not modelled yet is not judged)."""
    expected = last_occurrence(ctx.payday, today)
    overdue_from = expected + timedelta(days=th.salary_grace_days + 1)
    seen_from = expected - timedelta(days=EARLY_SALARY_DAYS)
    if today < overdue_from or activity.first_seen is None or activity.first_seen > seen_from:
        return None
    since = today - timedelta(days=PROFILE_SILENCE_DAYS)
    if any(d >= since for stream in activity.salaries.values() for d in stream.dates):
        return None
    if activity.first_seen > since:
        return None
    return Signal(SALARY_MISSING, f"Your salary usually arrives on the {w.ordinal(ctx.payday)} and hasn't "
                                  "arrived yet.", WEIGHTS[SALARY_MISSING], overdue_from)


def _income_falling(models: list[tuple[SalaryStream, income.SourceModel]], today: date, th: SignalThresholds,
                    cur: str) -> Signal | None:
    """A regular source's latest pay below the ratio of its own usual pay; irregular income's last 28 days
    below its usual 28 days by more than its own volatility."""
    ratio = float(th.income_drop_ratio)
    for stream, model in models:
        if model.regular:
            fall = income.regular_fall(stream.amounts, model.rhythm, ratio)
            if fall is not None:
                return Signal(INCOME_FALLING,
                              f"Your last salary from {stream.payer} was {w.money(fall[0], cur)}, less than your usual "
                              f"{w.money(fall[1], cur)}.", WEIGHTS[INCOME_FALLING], stream.dates[-1])
        else:
            fall = income.irregular_fall(list(zip(stream.dates, stream.amounts, strict=True)), today, ratio)
            if fall is not None:
                # Weak: a 28-day sum of a few random payouts varies by a third either way, so a fall the size
                # of a real hardship is barely outside its noise (it needs another signal to make an offer).
                return Signal(INCOME_FALLING,
                              f"Your income from {stream.payer} was {w.money(fall[0], cur)} in the last "
                              f"{income.ROLLING_DAYS} days, well below your usual {w.money(fall[1], cur)}.",
                              WEIGHTS[RISING_OVERDRAFT], today, weak=True)
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


def _expected_income_before(activity: Activity, models: Models, today: date, due: date, th: SignalThresholds,
                            ctx: Context) -> int:
    """Pay still expected between now and the due date: each regular source's payments due by then (one within
    its tolerance and grace counts), and irregular income (gig payouts, which have no date) at its rate over the
    last `irregular_income_window_days` (`irregular_rate`)."""
    total = 0
    for stream, model in models:
        if model.regular:
            since = today - timedelta(days=model.tolerance_days + th.salary_grace_days)
            total += model.usual_minor * len(model.expected_between(since, due))
        else:
            total += irregular_rate(activity, stream, today, th.irregular_income_window_days, (due - today).days)
    if not models and ctx.monthly_income_minor:
        # No source learned yet: when the pay comes is unknown (the profile's payday is only a hint, and wrong
        # for anyone not paid monthly), so the profile's monthly income counts pro rata: its expected value.
        total += ctx.monthly_income_minor * max((due - today).days, 0) * 12 // 365
    return total


def irregular_rate(activity: Activity, stream: SalaryStream, today: date, window_days: int, days: int) -> int:
    """What an irregular source (gig payouts) brings in `days` at its rate over the last `window_days` before
    today: over the days that history covers, when it is shorter (a new customer, or a stream whose oldest
    payments were dropped)."""
    start = today - timedelta(days=window_days)
    if activity.first_seen is not None:
        start = max(start, activity.first_seen)
    if len(stream.dates) >= KEEP_SALARIES:
        start = max(start, stream.dates[0])
    covered = (today - start).days
    if covered <= 0 or days <= 0:
        return 0
    paid = sum(amount for d, amount in zip(stream.dates, stream.amounts, strict=True) if start <= d < today)
    return paid * days // covered


def daily_outgoings(activity: Activity, today: date, th: SignalThresholds) -> list[int] | None:
    """Each of the last `spending_window_days` complete days' day-to-day outgoings other than the mortgage and the
    direct debits (card spending, cash, transfers); oldest first. None with less than `spending_min_history_days`
    of history."""
    if activity.first_seen is None:
        return None
    days = min(th.spending_window_days, (today - activity.first_seen).days)
    if days < max(th.spending_min_history_days, 1):
        return None
    start = today - timedelta(days=days)
    values = [0] * days
    for d, s in activity.days.items():
        if start <= d < today:
            values[(d - start).days] += s.spend_minor - s.mortgage_minor - s.scheduled_minor
    return values


def k_day_sums(daily: Sequence[int], k: int) -> list[int]:
    """How the next `k` days could go: every sum of `k` consecutive past days; with fewer past days than `k`,
    their whole sum scaled to `k` days."""
    if k <= len(daily):
        return window_sums(daily, k)
    return [sum(daily) * k // len(daily)]


def scheduled_before(activity: Activity, today: date, due: date) -> int:
    """Direct debits expected from today until the day before `due`: those collected on the same days of the
    month a month earlier (bills keep their day of the month); today's only if none was collected yet."""
    total, day = 0, today
    while day < due:
        booked_today = day == today and (activity.days.get(day) or DayStats()).scheduled_minor > 0
        if not booked_today:
            month_ago = add_months(day, -1, day.day)
            if month_ago.day == day.day:     # not a day the previous month lacks (the 31st)
                total += (activity.days.get(month_ago) or DayStats()).scheduled_minor
        day += timedelta(days=1)
    return total


def _payment_at_risk(activity: Activity, models: Models, today: date, th: SignalThresholds,
                     ctx: Context) -> Signal | None:
    """The balance on the due date may not cover the mortgage payment: today's balance and the overdraft left,
    plus the pay expected before the date (`_expected_income_before`), minus the direct debits due before it
    (a month ago on the same days), fall short of the payment by the customer's day-to-day outgoings until
    then in at least `at_risk_min_chance` of the ways those days went in the recent past (every run of as many
    consecutive days in the last `spending_window_days`: `overdraft_odds`' reading of a customer's own spending,
    so lumpy spending counts as it comes). Gig payouts count at their rate over a longer window, not in those
    runs: which days of four weeks a dozen payouts fell on is noise, and a gig earner with a thin month behind
    them was told their payment was at risk when their usual pay was about to cover it."""
    if ctx.next_due is None or not ctx.next_payment_minor or activity.balance_minor is None:
        return None
    days = max((ctx.next_due - today).days, 0)
    daily = daily_outgoings(activity, today, th)
    sums = k_day_sums(daily, days) if daily else [0]
    scheduled = scheduled_before(activity, today, ctx.next_due) if daily else 0
    headroom = (activity.balance_minor + ctx.overdraft_limit_minor
                + _expected_income_before(activity, models, today, ctx.next_due, th, ctx) - scheduled
                - ctx.next_payment_minor)
    if share_above(sums, headroom) < th.at_risk_min_chance:
        return None
    cur = activity.currency
    text = (f"Your balance of {w.money(activity.balance_minor, cur)} may not cover your mortgage payment of "
            f"{w.money(ctx.next_payment_minor, cur)} due on {ctx.next_due.strftime('%d %B')}")
    spending = scheduled + max(quantile(sums, 0.5), 0)
    if spending:
        text += f" after your bills and usual spending until then (about {w.money(spending, cur)})"
    return Signal(PAYMENT_AT_RISK, text + ".", WEIGHTS[PAYMENT_AT_RISK], today)


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
