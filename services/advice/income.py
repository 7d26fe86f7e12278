"""A customer's income, one model per source, learned from the payments themselves. Pure (stdlib only), so the
advice and mortgage services judge income with the same model.

Each source's rhythm is read from its payment dates: weekly, bi-weekly, four-weekly (a fixed weekday every 7,
14 or 28 days), semi-monthly (two fixed days of the month), monthly (a fixed day of the month), the last
working day of the month, or irregular (platform / gig income: no grid fits). A payday that falls on a
weekend is paid on the working day before, so every nominal date is shifted that way and each rhythm keeps a
date tolerance. The profile's payday is a hint a caller may use while no source is known yet; it never
overrides what the payments show.

Regular sources get an expected next date with its tolerance; a payment past `expected + tolerance` is late.
Irregular sources have no date: they are judged on rolling sums against their own volatility.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import pairwise
from statistics import mean, median, stdev

WEEKLY = "WEEKLY"
BIWEEKLY = "BIWEEKLY"
SEMI_MONTHLY = "SEMI_MONTHLY"
FOUR_WEEKLY = "FOUR_WEEKLY"
MONTHLY = "MONTHLY"
LAST_WORKING_DAY = "LAST_WORKING_DAY"
IRREGULAR = "IRREGULAR"
RHYTHMS = (WEEKLY, BIWEEKLY, SEMI_MONTHLY, FOUR_WEEKLY, MONTHLY, LAST_WORKING_DAY, IRREGULAR)

# Days a payment may land either side of its expected date and still be "on time".
TOLERANCE_DAYS = {WEEKLY: 1, BIWEEKLY: 2, SEMI_MONTHLY: 2, FOUR_WEEKLY: 2, MONTHLY: 2, LAST_WORKING_DAY: 2}
_GRID_DAYS = {WEEKLY: 7, BIWEEKLY: 14, FOUR_WEEKLY: 28}
_PER_YEAR = {WEEKLY: 52, BIWEEKLY: 26, FOUR_WEEKLY: 13, SEMI_MONTHLY: 24, MONTHLY: 12, LAST_WORKING_DAY: 12}
ROLLING_DAYS = 28          # irregular income: the window of the rolling sums
MIN_PAYMENTS = 3           # payments before a rhythm is trusted (two fit almost any grid)


@dataclass(frozen=True)
class SourceModel:
    """One income source as learned from its payments."""

    rhythm: str
    last_paid: date
    expected: date | None            # next expected payment (None for irregular income)
    tolerance_days: int
    usual_minor: int                 # a typical payment: the median of the payments before the last
    monthly_minor: int               # what the source brings in a month
    payments: int                    # how many payments the model was learned from
    anchors: tuple[int, ...] = ()    # days of the month (monthly, semi-monthly)
    nominal: date | None = None      # the expected date before the weekend shift (lateness counts from it)

    @property
    def regular(self) -> bool:
        return self.rhythm != IRREGULAR

    @property
    def trusted(self) -> bool:
        """Enough payments to rely on the rhythm: three, or two a month apart on the same day."""
        return self.payments >= MIN_PAYMENTS or (self.payments == 2 and self.rhythm in (MONTHLY, LAST_WORKING_DAY))

    def late_from(self, grace_days: int = 0) -> date | None:
        """The first day the next payment counts as late: past the rhythm's tolerance or the caller's grace,
        whichever is longer (None: irregular income has no due date)."""
        if self.expected is None:
            return None
        due = max(self.expected, self.nominal or self.expected)
        return due + timedelta(days=max(self.tolerance_days, grace_days) + 1)

    def expected_between(self, start: date, end: date) -> list[date]:
        """Expected payment dates in [start, end] (nominal dates, weekend-shifted)."""
        found: list[date] = []
        due = self.expected
        while due is not None and due <= end:
            if due >= start:
                found.append(due)
            due = _next_expected(self.rhythm, due, self.anchors, due)
        return found


def days_to_next_pay(pay_minor: int, monthly_income_minor: int) -> int | None:
    """How far apart pay of this size most likely comes, from one payment and the monthly income it is a part
    of: a quarter of it weekly (12 / 52), about half every two weeks or twice a month (12 / 26, 1 / 2); more, once
    a month or every four weeks (None: no rhythm to read). The cut-offs lie between the shares (geometric
    means), so a monthly income off by a third still reads the right rhythm."""
    if pay_minor <= 0 or monthly_income_minor <= 0:
        return None
    share = pay_minor / monthly_income_minor
    if share < 0.33:
        return 7
    if share < 0.68:
        return 14
    return None


# ------------------------------------------------------------------------------------------------ calendar

def is_working_day(day: date) -> bool:
    """Monday to Friday (bank holidays are not in the model: they fall within the tolerance)."""
    return day.weekday() < 5


def previous_working_day(day: date) -> date:
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def last_working_day(year: int, month: int) -> date:
    return previous_working_day(date(year, month, calendar.monthrange(year, month)[1]))


def on_day(year: int, month: int, day: int) -> date:
    """`day` of the month, clamped to the month's last day."""
    return date(year, month, min(max(day, 1), calendar.monthrange(year, month)[1]))


def _month_after(year: int, month: int, months: int = 1) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _paid_on(year: int, month: int, anchor: int) -> date:
    """The day a payment due on `anchor` of the month is paid (the working day before a weekend)."""
    return previous_working_day(on_day(year, month, anchor))


# ------------------------------------------------------------------------------------------------ learning

def learn(payments: Sequence[tuple[date, int]]) -> SourceModel | None:
    """The model of one source from its (day, amount) payments in time order; None with fewer than two.

    Memoized on the payments (the model is a pure function of them, and frozen): a series is judged on every
    transaction of its customer but its payments change only when it is paid."""
    if len(payments) < 2:
        return None
    return _learn(tuple(payments))


@lru_cache(maxsize=4096)
def _learn(payments: tuple[tuple[date, int], ...]) -> SourceModel:
    days = [d for d, _ in payments]
    amounts = [a for _, a in payments]
    rhythm, anchors = classify(days)
    last = days[-1]
    usual = int(median(amounts[:-1])) if len(amounts) > 1 else amounts[-1]
    if rhythm == IRREGULAR:
        span = max((last - days[0]).days, 1)
        monthly = int(sum(amounts[1:]) * 365.25 / 12 / span) if len(amounts) > 1 else amounts[-1]
        return SourceModel(rhythm, last, None, 0, usual, monthly, len(days))
    nominal = _next_expected(rhythm, last, anchors, _grid_anchor(rhythm, days), shift=False)
    return SourceModel(rhythm, last, _shift(rhythm, nominal), TOLERANCE_DAYS[rhythm], usual,
                       usual * _PER_YEAR[rhythm] // 12, len(days), anchors, nominal)


def classify(days: Sequence[date]) -> tuple[str, tuple[int, ...]]:
    """The rhythm that fits every payment date, and its days of the month where it has them."""
    gaps = [(b - a).days for a, b in pairwise(days)]
    if not gaps or min(gaps) < 1:
        return IRREGULAR, ()
    if all(d == last_working_day(d.year, d.month) for d in days) and all(25 <= g <= 35 for g in gaps):
        return LAST_WORKING_DAY, ()
    if all(10 <= g <= 20 for g in gaps):
        anchors = _semi_monthly_anchors(days)   # two days of the month, or every other weekday: the closer fit
        if anchors is not None and _exact_semi_monthly(days, anchors) > _exact_on_grid(days, 14):
            return SEMI_MONTHLY, anchors
    for rhythm, low, high in ((WEEKLY, 5, 9), (BIWEEKLY, 11, 17), (FOUR_WEEKLY, 25, 31)):
        if all(low <= g <= high for g in gaps) and _on_grid(days, _GRID_DAYS[rhythm]):
            if rhythm == FOUR_WEEKLY and _monthly_anchor(days) is not None and (len(days) < 3 or _same_day(days)):
                break  # the same day every month: monthly, whose gaps can be 28 too
            return rhythm, ()
    if all(10 <= g <= 20 for g in gaps):
        anchors = _semi_monthly_anchors(days)
        if anchors is not None:
            return SEMI_MONTHLY, anchors
    if all(25 <= g <= 35 for g in gaps):
        anchor = _monthly_anchor(days)
        if anchor is not None:
            return MONTHLY, (anchor,)
    return IRREGULAR, ()


def _on_grid(days: Sequence[date], period: int) -> bool:
    """Every date within the tolerance of one grid of `period` days (a payment shifted by a holiday is still on
    it)."""
    anchor = _grid_anchor_days(days, period)
    offsets = [min(o, period - o) for o in ((d - anchor).days % period for d in days)]
    return _mostly_exact(offsets, 2 if period == 7 else 3)


def _exact_on_grid(days: Sequence[date], period: int) -> int:
    anchor = _grid_anchor_days(days, period)
    return sum((d - anchor).days % period == 0 for d in days)


def _exact_semi_monthly(days: Sequence[date], anchors: tuple[int, int]) -> int:
    return sum(_offset(d, anchors[0] if 8 <= d.day <= 22 else anchors[1]) == 0 for d in days)


def _grid_anchor_days(days: Sequence[date], period: int) -> date:
    offsets = [(d - days[0]).days % period for d in days]
    best = max(set(offsets), key=lambda o: (offsets.count(o), -o))
    return days[0] + timedelta(days=best)


def _grid_anchor(rhythm: str, days: Sequence[date]) -> date:
    """A date on the source's nominal grid (the most common offset: a holiday-shifted payment does not move it)."""
    period = _GRID_DAYS.get(rhythm)
    return _grid_anchor_days(days, period) if period else days[-1]


def _same_day(days: Sequence[date]) -> bool:
    return max(d.day for d in days) - min(d.day for d in days) <= 3


def _monthly_anchor(days: Sequence[date]) -> int | None:
    """The day of the month every payment is paid on (weekend-shifted), or None."""
    candidates = sorted({d.day for d in days} | {d.day + k for d in days for k in (1, 2)})
    if max(d.day for d in days) >= 28:
        candidates.insert(0, 31)   # the month's end (clamped to its last day) before any fixed day near it
    for anchor in candidates:
        if anchor > 31:
            continue
        offsets = [_offset(d, anchor) for d in days]
        if _mostly_exact(offsets, 3):
            return anchor
    return None


@lru_cache(maxsize=8192)
def _offset(day: date, anchor: int) -> int:
    """Days between a payment and the nearest date the anchor falls on (nominal or weekend-shifted), in its
    month or either neighbour (a month-end salary paid late lands in the next month)."""
    best = 99
    for months in (-1, 0, 1):
        year, month = _month_after(day.year, day.month, months)
        for due in (_paid_on(year, month, anchor), on_day(year, month, anchor)):
            best = min(best, abs((day - due).days))
    return best


def _mostly_exact(offsets: Sequence[int], tolerance: int) -> bool:
    """Every payment within the tolerance of its nominal day, and most of them on it (a late one is late)."""
    return max(offsets) <= tolerance and 2 * sum(o == 0 for o in offsets) > len(offsets)


def _semi_monthly_anchors(days: Sequence[date]) -> tuple[int, int] | None:
    """Two days of the month (e.g. the 15th and the last) every payment falls on."""
    firsts = [d for d in days if 8 <= d.day <= 22]            # mid-month
    seconds = [d for d in days if not 8 <= d.day <= 22]       # around the month's end
    if not firsts or not seconds:
        return None
    a, b = _monthly_anchor(firsts), _monthly_anchor(seconds)
    if a is None or b is None:
        return None
    return a, b


def _shift(rhythm: str, nominal: date) -> date:
    return nominal if rhythm == LAST_WORKING_DAY else previous_working_day(nominal)


def _next_expected(rhythm: str, last: date, anchors: tuple[int, ...], grid: date, shift: bool = True) -> date:
    """The first expected payment after one paid on `last` (weekend-shifted unless `shift` is False)."""
    if not shift:
        return _next_expected_nominal(rhythm, last, anchors, grid)
    return _shift(rhythm, _next_expected_nominal(rhythm, last, anchors, grid))


def _next_expected_nominal(rhythm: str, last: date, anchors: tuple[int, ...], grid: date) -> date:
    period = _GRID_DAYS.get(rhythm)
    if period:
        steps = (last - grid).days // period + 1
        nominal = grid + timedelta(days=period * steps)
        if (nominal - last).days < period // 2:  # `last` was paid early (a weekend or holiday shift)
            nominal += timedelta(days=period)
        return nominal
    if rhythm == LAST_WORKING_DAY:
        year, month = _month_after(last.year, last.month)
        this_month = last_working_day(last.year, last.month)
        return this_month if this_month > last + timedelta(days=10) else last_working_day(year, month)
    candidates = []
    for months in (0, 1, 2):
        year, month = _month_after(last.year, last.month, months)
        candidates += [on_day(year, month, a) for a in anchors]
    gap = 20 if rhythm == MONTHLY else 8   # the next one, not the late one just paid
    return min(c for c in candidates if (previous_working_day(c) - last).days >= gap)


# ------------------------------------------------------------------------------------------------ judging

def rolling_sums(payments: Sequence[tuple[date, int]], today: date, days: int = ROLLING_DAYS,
                 step: int = 7) -> tuple[int, list[int]]:
    """The sum over the `days` days ending today, and the sums of the `step`-day blocks before that window that
    the history fully covers (oldest first): the source's own usual pace and its volatility."""
    def total(end: date, length: int) -> int:
        start = end - timedelta(days=length - 1)
        return sum(a for d, a in payments if start <= d <= end)

    first = payments[0][0] if payments else today
    blocks: list[int] = []
    end = today - timedelta(days=days)
    while end - timedelta(days=step - 1) >= first:
        blocks.append(total(end, step))
        end -= timedelta(days=step)
    return total(today, days), blocks[::-1]


def irregular_fall(payments: Sequence[tuple[date, int]], today: date, drop_ratio: float,
                   volatility_k: float = 3.0, min_blocks: int = 6, persist_days: int = 7) -> tuple[int, int] | None:
    """(recent, usual) when the last 28 days brought clearly less than the source's usual 28 days (read from
    its weekly sums before them): below `drop_ratio` of it and more than `volatility_k` standard deviations of
    a 28-day sum below it, and so already `persist_days` ago (one thin month of gig work is noise). None
    otherwise or with fewer than `min_blocks` earlier weeks."""
    earlier = _fall_on(payments, today - timedelta(days=persist_days), drop_ratio, volatility_k, min_blocks)
    return _fall_on(payments, today, drop_ratio, volatility_k, min_blocks) if earlier else None


def _fall_on(payments: Sequence[tuple[date, int]], today: date, drop_ratio: float, volatility_k: float,
             min_blocks: int) -> tuple[int, int] | None:
    recent, weeks = rolling_sums([p for p in payments if p[0] <= today], today)
    if len(weeks) < min_blocks:
        return None
    per_window = ROLLING_DAYS / 7
    usual = mean(weeks) * per_window
    # The spread of a 28-day sum: from the weekly sums, but never below what the payouts' own amounts imply
    # (n payouts of standard deviation s: s times the square root of n), which a handful of weekly sums often
    # understates.
    window_start = today - timedelta(days=ROLLING_DAYS + 7 * len(weeks) - 1)
    earlier = [a for d, a in payments if window_start <= d <= today - timedelta(days=ROLLING_DAYS)]
    per_28 = len(earlier) * ROLLING_DAYS / (7 * len(weeks))
    amounts = stdev(earlier) * per_28 ** 0.5 if len(earlier) >= 2 else 0.0
    spread = max(stdev(weeks) * per_window ** 0.5, amounts, 0.15 * usual)
    if usual <= 0 or recent >= drop_ratio * usual or recent >= usual - volatility_k * spread:
        return None
    return recent, int(usual)


def regular_fall(amounts: Sequence[int], rhythm: str, drop_ratio: float) -> tuple[int, int] | None:
    """(last, usual) when the latest payment(s) of a regular source fell below `drop_ratio` of the usual:
    the last one for monthly pay, the last two for weekly to four-weekly pay (one short week is noise)."""
    recent = 1 if rhythm in (MONTHLY, LAST_WORKING_DAY) else 2
    if len(amounts) < recent + 2:
        return None
    usual = int(median(amounts[:-recent]))
    if usual <= 0 or any(a >= drop_ratio * usual for a in amounts[-recent:]):
        return None
    return amounts[-1], usual
