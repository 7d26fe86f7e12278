"""Income histories of every pay rhythm, scanned day by day as they arrive, with the salary signals they must
(and must not) raise. The profile's payday and monthly income are passed as the hint a bank has."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from services.advice import income as inc
from services.mortgage import signals as sig
from tests.unit.mortgage.test_signals import CLASSIFY, TH, salary

START, END = date(2025, 1, 1), date(2025, 6, 30)
INCOME_SIGNALS = {sig.SALARY_MISSING, sig.INCOME_FALLING}


def every(first: date, days: int, amount: int, until: date = END) -> list[tuple[date, int]]:
    return [(first + timedelta(days=days * i), amount) for i in range((until - first).days // days + 1)]


def monthly(anchor: int, amount: int) -> list[tuple[date, int]]:
    return [(inc.previous_working_day(inc.on_day(2025, m, anchor)), amount) for m in range(1, 7)]


def semi_monthly(amount: int) -> list[tuple[date, int]]:
    return sorted((inc.previous_working_day(inc.on_day(2025, m, a)), amount) for m in range(1, 7) for a in (15, 31))


def gig(seed: int, factor_from: date | None = None, factor: float = 1.0) -> list[tuple[date, int]]:
    rng, day, out = random.Random(seed), START, []
    while day < END:
        day += timedelta(days=rng.randint(1, 4))
        amount = rng.randint(30_00, 160_00)
        out.append((day, round(amount * factor) if factor_from and day >= factor_from else amount))
    return out


def scan(sources: dict[str, list[tuple[date, int]]], payday: int = 25, monthly_income: int = 2_500_00
         ) -> dict[str, date]:
    """The first day each income signal was raised, folding the payments in as they arrive."""
    from services.mortgage import activity as act

    a = act.Activity()
    ctx = sig.Context(payday=payday, monthly_income_minor=monthly_income)
    pending = sorted((d, amount, payer) for payer, payments in sources.items() for d, amount in payments)
    first: dict[str, date] = {}
    day = START
    while day <= END:
        while pending and pending[0][0] <= day:
            d, amount, payer = pending.pop(0)
            act.apply(a, salary(d, amount, payer=payer), CLASSIFY)
        for s in sig.detect(a, day, TH, ctx):
            if s.code in INCOME_SIGNALS:
                first.setdefault(s.code, day)
        day += timedelta(days=1)
    return first


HEALTHY = [
    ("weekly", {"Northwind": every(date(2025, 1, 3), 7, 600_00)}),
    ("bi-weekly", {"Northwind": every(date(2025, 1, 10), 14, 1_150_00)}),
    ("semi-monthly", {"Northwind": semi_monthly(1_250_00)}),
    ("four-weekly", {"Northwind": every(date(2025, 1, 17), 28, 2_300_00)}),
    ("monthly on the 25th", {"Northwind": monthly(25, 2_500_00)}),
    ("last working day", {"Northwind": [(inc.last_working_day(2025, m), 2_500_00) for m in range(1, 7)]}),
    ("irregular gig income", {"RideNow": gig(1)}),
    ("two jobs: monthly and weekly", {"Northwind": monthly(28, 1_800_00),
                                      "Kestrel": every(date(2025, 1, 4), 7, 150_00)}),
    ("salary plus gig income", {"Northwind": every(date(2025, 1, 10), 14, 900_00), "RideNow": gig(2)}),
    # paid a day or two late now and then (within the rhythm's tolerance and the grace): not missing
    ("bi-weekly, sometimes 1-2 days late", {"Northwind": [(d + timedelta(days=2 if i % 3 == 1 else i % 5 == 2), a)
                                                         for i, (d, a) in enumerate(every(date(2025, 1, 10), 14,
                                                                                          1_150_00))]}),
    ("weekly, sometimes a day late", {"Northwind": [(d + timedelta(days=i % 4 == 3), a)
                                                   for i, (d, a) in enumerate(every(date(2025, 1, 3), 7, 600_00))]}),
]


@pytest.mark.parametrize(("name", "sources"), HEALTHY, ids=[h[0] for h in HEALTHY])
def test_income_paid_on_its_own_rhythm_raises_no_income_signal(name: str, sources) -> None:
    assert scan(sources) == {}


def test_a_bi_weekly_salary_on_time_never_gets_salary_missing_whatever_the_profile_payday() -> None:
    for payday in (1, 15, 25, 28):
        for first in (date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 10)):   # a Thursday or a Friday grid
            assert sig.SALARY_MISSING not in scan({"Northwind": every(first, 14, 1_150_00)}, payday=payday)


TROUBLED = [
    # name, sources, the signal, the first day it may be raised, the last day it must have been raised by
    ("weekly job lost", {"Northwind": every(date(2025, 1, 3), 7, 600_00, until=date(2025, 3, 28))},
     sig.SALARY_MISSING, date(2025, 4, 5), date(2025, 4, 8)),
    ("bi-weekly job lost", {"Northwind": every(date(2025, 1, 10), 14, 1_150_00, until=date(2025, 3, 21))},
     sig.SALARY_MISSING, date(2025, 4, 5), date(2025, 4, 8)),
    ("monthly salary stopped", {"Northwind": monthly(25, 2_500_00)[:3]},
     sig.SALARY_MISSING, date(2025, 4, 26), date(2025, 4, 30)),
    ("two jobs, the monthly one lost", {"Northwind": monthly(28, 1_800_00)[:3],
                                        "Kestrel": every(date(2025, 1, 4), 7, 150_00)},
     sig.SALARY_MISSING, date(2025, 4, 29), date(2025, 5, 3)),
    ("weekly hours cut", {"Northwind": [(d, a if d < date(2025, 3, 1) else 350_00)
                                        for d, a in every(date(2025, 1, 3), 7, 600_00)]},
     sig.INCOME_FALLING, date(2025, 3, 14), date(2025, 3, 14)),
    ("monthly pay cut", {"Northwind": [(d, a if d < date(2025, 4, 1) else 1_500_00) for d, a in monthly(25, 2_500_00)]},
     sig.INCOME_FALLING, date(2025, 4, 25), date(2025, 4, 25)),
    ("gig income dried up to a tenth", {"RideNow": gig(1, date(2025, 4, 1), 0.1)},
     sig.INCOME_FALLING, date(2025, 4, 10), date(2025, 4, 30)),
    ("gig income stopped", {"RideNow": [p for p in gig(1) if p[0] < date(2025, 4, 1)]},
     sig.SALARY_MISSING, date(2025, 4, 10), date(2025, 4, 30)),
    # last paid Mon 31 Mar; due Tue 15 Apr (read as the 14th: February's and March's 15th fell on a Saturday
    # and were paid on the Friday 14th), late after the 3-day grace
    ("semi-monthly job lost", {"Northwind": [p for p in semi_monthly(1_250_00) if p[0] <= date(2025, 3, 31)]},
     sig.SALARY_MISSING, date(2025, 4, 16), date(2025, 4, 19)),
    # 17 Jan, 14 Feb, 14 Mar: three payments can't tell four-weekly (next 11 Apr) from monthly on the 14th
    ("four-weekly job lost", {"Northwind": every(date(2025, 1, 17), 28, 2_300_00, until=date(2025, 3, 14))},
     sig.SALARY_MISSING, date(2025, 4, 12), date(2025, 4, 18)),
    ("last working day, stopped", {"Northwind": [(inc.last_working_day(2025, m), 2_500_00) for m in range(1, 4)]},
     sig.SALARY_MISSING, date(2025, 5, 1), date(2025, 5, 5)),
    ("bi-weekly hours cut", {"Northwind": [(d, a if d < date(2025, 3, 1) else 700_00)
                                           for d, a in every(date(2025, 1, 10), 14, 1_150_00)]},
     sig.INCOME_FALLING, date(2025, 3, 21), date(2025, 3, 21)),
    ("semi-monthly pay cut", {"Northwind": [(d, a if d < date(2025, 3, 1) else 800_00)
                                            for d, a in semi_monthly(1_250_00)]},
     sig.INCOME_FALLING, date(2025, 3, 31), date(2025, 3, 31)),
    ("two jobs, the bi-weekly one lost", {"Northwind": every(date(2025, 1, 10), 14, 900_00, until=date(2025, 3, 21)),
                                          "Kestrel": every(date(2025, 1, 6), 7, 300_00)},
     sig.SALARY_MISSING, date(2025, 4, 5), date(2025, 4, 8)),
]


@pytest.mark.parametrize(("name", "sources", "code", "earliest", "latest"), TROUBLED, ids=[t[0] for t in TROUBLED])
def test_a_real_loss_of_income_is_signalled_in_time(name: str, sources, code: str, earliest: date,
                                                    latest: date) -> None:
    first = scan(sources)
    assert code in first, first
    assert earliest <= first[code] <= latest
