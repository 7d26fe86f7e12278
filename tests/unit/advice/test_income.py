"""The income model: each rhythm recognised from its payment dates, its expected next date and tolerance."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from services.advice import income as inc


def every(start: date, days: int, n: int, amount: int = 500_00) -> list[tuple[date, int]]:
    return [(start + timedelta(days=days * i), amount) for i in range(n)]


def monthly_on(anchor: int, months: range, amount: int = 2_500_00) -> list[tuple[date, int]]:
    return [(inc.previous_working_day(inc.on_day(2025, m, anchor)), amount) for m in months]


def semi_monthly(months: range) -> list[tuple[date, int]]:
    return sorted((inc.previous_working_day(inc.on_day(2025, m, a)), 1_200_00) for m in months for a in (15, 31))


def gig(seed: int, start: date, end: date) -> list[tuple[date, int]]:
    rng, day, out = random.Random(seed), start, []
    while day < end:
        day += timedelta(days=rng.randint(1, 5))
        out.append((day, rng.randint(20_00, 180_00)))
    return out


CASES = [
    # name, payments, rhythm, expected next date
    ("weekly on Fridays", every(date(2025, 1, 3), 7, 10), inc.WEEKLY, date(2025, 3, 14)),
    ("bi-weekly on Fridays", every(date(2025, 1, 3), 14, 6), inc.BIWEEKLY, date(2025, 3, 28)),
    ("four-weekly", every(date(2025, 1, 3), 28, 5), inc.FOUR_WEEKLY, date(2025, 5, 23)),
    ("semi-monthly, 15th and month end", semi_monthly(range(1, 5)), inc.SEMI_MONTHLY, date(2025, 5, 15)),
    ("monthly on the 25th (a Sunday in May: paid the Friday before)", monthly_on(25, range(1, 5)), inc.MONTHLY,
     date(2025, 5, 23)),
    ("last working day", [(inc.last_working_day(2025, m), 3_000_00) for m in range(1, 6)], inc.LAST_WORKING_DAY,
     date(2025, 6, 30)),
    ("gig platform payouts", gig(7, date(2025, 1, 1), date(2025, 4, 1)), inc.IRREGULAR, None),
]


@pytest.mark.parametrize(("name", "payments", "rhythm", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_rhythm_is_recognised_with_its_next_date(name: str, payments, rhythm: str, expected) -> None:
    model = inc.learn(payments)
    assert model is not None
    assert (model.rhythm, model.expected) == (rhythm, expected)
    assert model.trusted


def test_a_late_weekly_payment_keeps_the_rhythm_and_the_grid() -> None:
    payments = every(date(2025, 1, 3), 7, 8)
    payments[5] = (payments[5][0] + timedelta(days=2), payments[5][1])   # one Sunday payment, 2 days late
    model = inc.learn(payments)
    assert model.rhythm == inc.WEEKLY and model.expected == date(2025, 2, 28)


def test_lateness_counts_from_the_nominal_day_and_the_longer_of_tolerance_and_grace() -> None:
    model = inc.learn(monthly_on(25, range(1, 5)))
    assert model.nominal == date(2025, 5, 25) and model.late_from(3) == date(2025, 5, 29)
    weekly = inc.learn(every(date(2025, 1, 3), 7, 6))
    assert weekly.late_from(0) == weekly.expected + timedelta(days=2)


def test_two_payments_a_week_apart_are_not_trusted_yet() -> None:
    assert not inc.learn(every(date(2025, 1, 3), 7, 2)).trusted
    assert inc.learn(monthly_on(25, range(1, 3))).trusted


def test_monthly_equivalents() -> None:
    assert inc.learn(every(date(2025, 1, 3), 14, 4, 1_000_00)).monthly_minor == 1_000_00 * 26 // 12
    assert inc.learn(every(date(2025, 1, 3), 7, 4, 500_00)).monthly_minor == 500_00 * 52 // 12


def test_irregular_income_falls_only_beyond_its_own_volatility() -> None:
    steady = gig(3, date(2025, 1, 1), date(2025, 5, 1))
    assert inc.irregular_fall(steady, date(2025, 5, 1), 0.8) is None
    halved = [(d, a if d < date(2025, 3, 25) else a // 10) for d, a in steady]
    fall = inc.irregular_fall(halved, date(2025, 5, 1), 0.8)
    assert fall is not None and fall[0] < 0.5 * fall[1]


def test_one_short_week_is_noise_two_are_a_fall() -> None:
    assert inc.regular_fall([500_00] * 6 + [250_00], inc.WEEKLY, 0.8) is None
    assert inc.regular_fall([500_00] * 6 + [250_00, 250_00], inc.WEEKLY, 0.8) == (250_00, 500_00)
    assert inc.regular_fall([2_500_00] * 4 + [1_500_00], inc.MONTHLY, 0.8) == (1_500_00, 2_500_00)
