"""Income histories of every pay rhythm through the advice engine, a card payment every day (the engine judges
income when a transaction arrives), with the INCOME_LATE nudge they must and must not raise. The same
histories are judged by the mortgage signals in tests/unit/mortgage/test_income_histories.py."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from services.advice import income as inc
from services.advice.rules.payments import INCOME_LATE
from tests.unit.advice.builders import Account, at

START, END = date(2025, 1, 1), date(2025, 6, 30)
Payments = dict[str, list[tuple[date, int]]]


def every(first: date, days: int, amount: int, until: date = END) -> list[tuple[date, int]]:
    return [(first + timedelta(days=days * i), amount) for i in range((until - first).days // days + 1)]


def monthly(anchor: int, amount: int, months: int = 6) -> list[tuple[date, int]]:
    return [(inc.previous_working_day(inc.on_day(2025, m, anchor)), amount) for m in range(1, months + 1)]


def semi_monthly(amount: int) -> list[tuple[date, int]]:
    return sorted((inc.previous_working_day(inc.on_day(2025, m, a)), amount) for m in range(1, 7) for a in (15, 31))


def gig(seed: int, until: date = END) -> list[tuple[date, int]]:
    rng, day, out = random.Random(seed), START, []
    while day < until:
        day += timedelta(days=rng.randint(1, 4))
        out.append((day, rng.randint(30_00, 160_00)))
    return out


def late_nudges(sources: Payments) -> list[tuple[date, str]]:
    """(day raised, expected day) of every INCOME_LATE candidate, living the history day by day."""
    account = Account(balance=500_000)
    account.profile(payday=25, monthly_income_minor=2_500_00)
    pending = sorted((d, amount, payer) for payer, payments in sources.items() for d, amount in payments)
    found: list[tuple[date, str]] = []
    day = START
    while day <= END:
        while pending and pending[0][0] <= day:
            d, amount, payer = pending.pop(0)
            account.tx(at(d, 6), amount, credit=True, channel="SALARY", payee=payer.lower(), name=payer)
        evaluation = account.tx(at(day, 12), 1_500, payee="", name="Grocer")
        found += [(day, c.data["expected_day"]) for c in evaluation.candidates if c.type == INCOME_LATE]
        day += timedelta(days=1)
    return found


ON_TIME: list[tuple[str, Payments]] = [
    ("weekly", {"Northwind": every(date(2025, 1, 3), 7, 600_00)}),
    ("bi-weekly", {"Northwind": every(date(2025, 1, 10), 14, 1_150_00)}),
    ("semi-monthly", {"Northwind": semi_monthly(1_250_00)}),
    ("four-weekly", {"Northwind": every(date(2025, 1, 17), 28, 2_300_00)}),
    ("monthly on the 25th", {"Northwind": monthly(25, 2_500_00)}),
    ("last working day", {"Northwind": [(inc.last_working_day(2025, m), 2_500_00) for m in range(1, 7)]}),
    ("irregular gig income", {"RideNow": gig(1)}),
    ("two jobs: monthly and weekly", {"Northwind": monthly(28, 1_800_00),
                                      "Kestrel": every(date(2025, 1, 4), 7, 150_00)}),
    ("bi-weekly, sometimes 1-2 days late", {"Northwind": [(d + timedelta(days=2 if i % 3 == 1 else i % 5 == 2), a)
                                                         for i, (d, a) in enumerate(every(date(2025, 1, 10), 14,
                                                                                          1_150_00))]}),
    ("hours cut (the pay still comes on time)", {"Northwind": [(d, a if d < date(2025, 3, 1) else 350_00)
                                                              for d, a in every(date(2025, 1, 3), 7, 600_00)]}),
]


@pytest.mark.parametrize(("name", "sources"), ON_TIME, ids=[c[0] for c in ON_TIME])
def test_income_paid_on_its_own_rhythm_is_never_late(name: str, sources: Payments) -> None:
    assert late_nudges(sources) == []


def test_a_bi_weekly_salary_on_time_is_never_late_whatever_the_profile_payday() -> None:
    # the profile says the 25th; the payroll pays every other Friday: the payroll wins
    assert late_nudges({"Northwind": every(date(2025, 1, 3), 14, 1_150_00)}) == []


LOST: list[tuple[str, Payments, str, date]] = [
    # name, sources, the expected day named, the day the nudge is raised (3 days late, judged on the model)
    ("weekly job lost", {"Northwind": every(date(2025, 1, 3), 7, 600_00, until=date(2025, 3, 28))},
     "2025-04-04", date(2025, 4, 7)),
    ("bi-weekly job lost", {"Northwind": every(date(2025, 1, 10), 14, 1_150_00, until=date(2025, 3, 21))},
     "2025-04-04", date(2025, 4, 7)),
    ("monthly salary stopped", {"Northwind": monthly(25, 2_500_00, months=3)}, "2025-04-25", date(2025, 4, 28)),
    ("last working day, stopped", {"Northwind": [(inc.last_working_day(2025, m), 2_500_00) for m in range(1, 4)]},
     "2025-04-30", date(2025, 5, 3)),
    ("two jobs, the monthly one lost", {"Northwind": monthly(28, 1_800_00, months=3),
                                        "Kestrel": every(date(2025, 1, 4), 7, 150_00)},
     "2025-04-28", date(2025, 5, 1)),
]


@pytest.mark.parametrize(("name", "sources", "expected_day", "raised"), LOST, ids=[c[0] for c in LOST])
def test_a_lost_income_is_late_once_on_its_own_date(name: str, sources: Payments, expected_day: str,
                                                    raised: date) -> None:
    found = late_nudges(sources)
    assert found[0] == (raised, expected_day)
    assert {e for _, e in found} == {expected_day}   # one due date, not a nudge a day


def test_irregular_income_is_never_late_even_when_it_stops() -> None:
    assert late_nudges({"RideNow": gig(1, until=date(2025, 4, 1))}) == []
