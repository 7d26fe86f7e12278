"""Bank customers built on the Handbook's spending profiles: income, buffers, bills, mortgage, hardship.

Income is set from the customer's expected monthly outgoings (card spending implied by the Handbook
profile, cash, bills, mortgage) times a solvency factor, so most customers are solvent, a "stretched" few
live close to zero, and customers picked for a hardship episode start with thin buffers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from services.simulator import annuity, catalog
from services.simulator.bank_config import BankConfig
from services.simulator.handbook import TIME_OF_DAY_MEAN_S, TIME_OF_DAY_STD_S, HandbookDataset

DAYS_PER_MONTH = 365.25 / 12
# Share of Handbook time draws kept (0 < int(t) < 86400), and the mean of the Handbook amount relative to
# the profile mean (negative draws re-drawn): 1 + phi(2) / 2.
_P_KEPT = 0.5 * (
    math.erf((86_400 - TIME_OF_DAY_MEAN_S) / TIME_OF_DAY_STD_S / math.sqrt(2))
    - math.erf((1 - TIME_OF_DAY_MEAN_S) / TIME_OF_DAY_STD_S / math.sqrt(2))
)
_AMOUNT_MEAN_FACTOR = 1 + 0.5 * math.exp(-2) / math.sqrt(2 * math.pi)
MIN_SALARY_MINOR = 1_100_00
T = TypeVar("T")
ATM_AMOUNTS_MINOR = (20_00, 30_00, 40_00, 50_00, 100_00, 150_00, 200_00)


class HardshipKind(enum.StrEnum):
    SALARY_STOPPED = "SALARY_STOPPED"
    INCOME_FALL = "INCOME_FALL"


@dataclass(frozen=True)
class Bill:
    counterparty_id: str
    name: str
    description: str
    day_of_month: int
    amount_minor: int
    rise_day: int | None = None  # first day (offset) on which the new amount applies
    new_amount_minor: int | None = None
    variation: float = 0.0  # a usage-priced bill: each collection within +/- this share of the amount


@dataclass(frozen=True)
class MortgageTerms:
    id: str
    principal_minor: int  # outstanding balance at the simulation start
    rate_bps: int
    remaining_term_months: int
    monthly_payment_minor: int  # annuity formula
    payment_day: int
    property_value_minor: int
    fixed_months_remaining: int


@dataclass(frozen=True)
class Savings:
    account_id: str
    balance_minor: int
    rate_bps: int


@dataclass(frozen=True)
class Hardship:
    kind: HardshipKind
    start_day: int
    income_factor: float  # share of the salary still paid (0 when it stops)
    gambling_monthly_minor: int
    payday_loan_minor: int  # 0 = none
    payday_loan_day: int


@dataclass(frozen=True)
class BankCustomer:
    index: int  # the Handbook CUSTOMER_ID
    customer_id: str
    account_id: str
    card_token: str
    time_zone: str
    currency: str
    segment: str
    credit_score: int
    home_x_km: float
    home_y_km: float
    payday: int
    salary_minor: int
    employer: str
    opening_balance_minor: int
    overdraft_limit_minor: int
    atm_per_month: float
    atm_terminal: int
    gambling_per_month: float  # baseline bets a month (0 for most)
    bills: tuple[Bill, ...] = field(default_factory=tuple)
    mortgage: MortgageTerms | None = None
    savings: Savings | None = None
    hardship: Hardship | None = None
    pay_rhythm: str = catalog.MONTHLY  # catalog.PAY_RHYTHMS; `salary_minor` is always the monthly amount
    first_pay_day: int = 0  # weekly, bi-weekly, four-weekly: the day offset of the first payday
    monthly_outgoings_minor: int = 0  # expected outgoings a month (card, bills, cash, mortgage): sets the buffers

    @property
    def employer_id(self) -> str:
        return "emp_" + self.employer.lower().replace(" ", "_")


def expected_card_spend_minor(data: HandbookDataset) -> np.ndarray:
    """Expected monthly card spending per customer implied by the Handbook profile (pence)."""
    c = data.customers
    monthly = c.mean_amount * _AMOUNT_MEAN_FACTOR * c.mean_nb_tx_per_day * _P_KEPT * DAYS_PER_MONTH * 100
    return np.where(c.nb_terminals > 0, monthly, 0.0)


def _round_to(value: float, step: int) -> int:
    return round(float(value) / step) * step


def _days_to_day_of_month(start: dt.date, day_of_month: int) -> int:
    """Days from ``start`` to the next date (inclusive) whose day of month is ``day_of_month`` (1..28)."""
    if start.day <= day_of_month:
        return day_of_month - start.day
    next_month = dt.date(start.year + start.month // 12, start.month % 12 + 1, day_of_month)
    return (next_month - start).days


def _pick(rng: np.random.Generator, options: tuple[tuple[T, float], ...]) -> T:
    weights = np.array([w for _, w in options])
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def _bills(rng: np.random.Generator, n_days: int, renting: bool, variable: bool = False) -> list[Bill]:
    bills: list[Bill] = []
    if renting:
        bills.append(
            Bill(
                counterparty_id=f"cp_landlord_{rng.integers(0, 500):03d}",
                name="Rent",
                description="Rent standing payment",
                day_of_month=int(rng.integers(1, 29)),
                amount_minor=_round_to(rng.uniform(*catalog.RENT_RANGE_MINOR), 500),
            )
        )
    for kind in catalog.BILLS:
        if rng.random() >= kind.uptake:
            continue
        day = int(rng.integers(1, 29))
        amount = kind.price_minor or _round_to(rng.uniform(*kind.amount_range_minor), 1)
        rise_day: int | None = None
        new_amount: int | None = None
        if kind.price_rise is not None and kind.price_rise[0] < n_days:
            rise_day, new_amount = kind.price_rise
        elif kind.rise_share and rng.random() < kind.rise_share and n_days > 60:
            rise_day = int(rng.integers(30, n_days - 20))
            new_amount = _round_to(amount * rng.uniform(1.05, 1.30), 1)
        bills.append(
            Bill(f"cp_{kind.key}", kind.name, kind.description, day, amount, rise_day, new_amount,
                 kind.variation if variable else 0.0)
        )
    return bills


def _mortgage(rng: np.random.Generator, index: int, payment_target: int, payday: int) -> MortgageTerms:
    rate_bps = int(rng.integers(20, 56)) * 10  # 2.00% .. 5.50%
    months = int(rng.integers(60, 361))
    principal = _round_to(annuity.principal_for_payment(payment_target, rate_bps, months), 100)
    payment = annuity.annuity_payment(principal, rate_bps, months)
    ltv = rng.uniform(0.35, 0.90)
    return MortgageTerms(
        id=f"mtg_{index:06d}",
        principal_minor=principal,
        rate_bps=rate_bps,
        remaining_term_months=months,
        monthly_payment_minor=payment,
        payment_day=(payday + int(rng.integers(0, 10)) - 1) % 28 + 1,
        property_value_minor=_round_to(principal / ltv, 1_000_00),
        fixed_months_remaining=0 if rng.random() < 0.4 else int(rng.integers(1, 61)),
    )


def _hardship(rng: np.random.Generator, n_days: int, salary: int) -> Hardship:
    kind = HardshipKind.SALARY_STOPPED if rng.random() < 0.5 else HardshipKind.INCOME_FALL
    start = int(rng.integers(14, max(15, n_days - 95)))
    loan = _round_to(rng.uniform(200_00, 600_00), 50_00) if rng.random() < 0.5 else 0
    return Hardship(
        kind=kind,
        start_day=start,
        income_factor=0.0 if kind is HardshipKind.SALARY_STOPPED else round(1 - rng.uniform(0.3, 0.6), 2),
        gambling_monthly_minor=_round_to(salary * rng.uniform(0.08, 0.20), 100),
        payday_loan_minor=loan,
        payday_loan_day=start + int(rng.integers(7, 31)),
    )


class _Standing(enum.Enum):
    """How comfortably a customer's income covers their outgoings."""

    COMFORTABLE = "comfortable"
    STRETCHED = "stretched"
    HARDSHIP = "hardship"  # picked for a hardship episode: thin buffers to begin with


# Salary = factor x outgoings; buffer = opening balance beyond what carries the customer to the first payday
# (share of the salary); credit-score penalty.
_SOLVENCY = {
    _Standing.COMFORTABLE: ((1.05, 1.45), (0.1, 1.2), 0),
    _Standing.STRETCHED: ((0.93, 1.02), (-0.1, 0.2), 60),
    _Standing.HARDSHIP: ((1.00, 1.04), (0.0, 0.15), 40),
}


def _assign_groups(n: int, config: BankConfig, rng: np.random.Generator) -> tuple[np.ndarray, list[_Standing]]:
    """Mortgage holders and standings, drawn up front so the shares are exact."""
    has_mortgage = np.zeros(n, dtype=bool)
    has_mortgage[rng.choice(n, round(config.mortgage_share * n), replace=False)] = True
    owners, others = np.flatnonzero(has_mortgage), np.flatnonzero(~has_mortgage)
    n_hardship = round(config.hardship_share * n)
    n_owners = min(round(config.hardship_mortgage_share * n_hardship), len(owners))
    in_hardship = np.zeros(n, dtype=bool)
    in_hardship[rng.choice(owners, n_owners, replace=False)] = True
    in_hardship[rng.choice(others, min(n_hardship - n_owners, len(others)), replace=False)] = True
    stretched = (rng.random(n) < config.stretched_share) & ~in_hardship
    standing = [
        _Standing.HARDSHIP if h else (_Standing.STRETCHED if s else _Standing.COMFORTABLE)
        for h, s in zip(in_hardship.tolist(), stretched.tolist(), strict=True)
    ]
    return has_mortgage, standing


def _overdraft_limit(rng: np.random.Generator, salary: int) -> int:
    """None for 20% of customers; otherwise 15-50% of the salary, in GBP 50 steps within GBP 250-3,000."""
    if rng.random() < 0.2:
        return 0
    return int(np.clip(_round_to(rng.uniform(0.15, 0.5) * salary, 50_00), 250_00, 3_000_00))


def _customer(
    i: int,
    data: HandbookDataset,
    config: BankConfig,
    card_spend_minor: float,
    has_mortgage: bool,
    standing: _Standing,
    atm_terminal: int,
    rng: np.random.Generator,
) -> BankCustomer:
    n_days = data.config.n_days
    factor_range, buffer_range, score_penalty = _SOLVENCY[standing]
    payday = _pick(rng, catalog.PAYDAYS)
    bills = _bills(rng, n_days, renting=not has_mortgage and rng.random() < catalog.RENT_SHARE,
                   variable=config.variable_bills)
    atm_per_month = float(rng.uniform(0.5, 4.0)) if rng.random() < 0.6 else 0.0
    gambling_per_month = float(rng.uniform(0.5, 3.0)) if rng.random() < config.baseline_gambler_share else 0.0
    outgoings = (
        card_spend_minor
        + sum(b.amount_minor for b in bills)
        + atm_per_month * float(np.mean(ATM_AMOUNTS_MINOR))
        + gambling_per_month * 17_50
    )
    factor = rng.uniform(*factor_range)
    # With a mortgage taking `share` of the salary S: S = factor x (outgoings + share x S).
    mortgage_share = rng.uniform(0.12, 0.30) if has_mortgage else 0.0
    salary = max(MIN_SALARY_MINOR, _round_to(factor * outgoings / (1 - factor * mortgage_share), 100))
    mortgage = _mortgage(rng, i, round(mortgage_share * salary), payday) if has_mortgage else None
    # The opening balance carries the customer to the first payday, plus a buffer.
    to_first_payday = _days_to_day_of_month(data.config.start_date, payday) / DAYS_PER_MONTH
    monthly_out = outgoings + (mortgage.monthly_payment_minor if mortgage else 0)
    opening = to_first_payday * monthly_out + rng.uniform(*buffer_range) * salary
    overdraft = _overdraft_limit(rng, salary)
    savings = None
    if rng.random() < config.savings_share:
        savings = Savings(
            account_id=f"sav_{i:06d}",
            balance_minor=_round_to(rng.uniform(0.5, 6.0) * salary, 1),
            rate_bps=int(rng.integers(25, 46)) * 10,
        )
    segment = "affluent" if salary >= 5_000_00 else ("young" if rng.random() < 0.2 else "mass")
    score = 700 + (salary - 2_500_00) / 10_000 - score_penalty
    return BankCustomer(
        index=i,
        customer_id=f"cust_{i:06d}",
        account_id=f"cur_{i:06d}",
        card_token=f"card_{i:06d}",
        time_zone=_pick(rng, catalog.TIME_ZONES),
        currency=config.currency,
        segment=segment,
        credit_score=int(np.clip(score + rng.normal(0, 40), 300, 850)),
        home_x_km=float(data.customers.x_km[i]),
        home_y_km=float(data.customers.y_km[i]),
        payday=payday,
        salary_minor=salary,
        employer=catalog.EMPLOYERS[int(rng.integers(0, len(catalog.EMPLOYERS)))],
        opening_balance_minor=_round_to(opening, 1),
        overdraft_limit_minor=overdraft,
        atm_per_month=atm_per_month,
        atm_terminal=atm_terminal,
        gambling_per_month=gambling_per_month,
        bills=tuple(bills),
        mortgage=mortgage,
        savings=savings,
        hardship=_hardship(rng, n_days, salary) if standing is _Standing.HARDSHIP else None,
        monthly_outgoings_minor=round(monthly_out),
    )


def build_customers(
    data: HandbookDataset, config: BankConfig, atm_terminals: np.ndarray, rng: np.random.Generator
) -> list[BankCustomer]:
    """One bank customer per Handbook customer (same index), seeded by ``rng``."""
    n = len(data.customers)
    card_spend = expected_card_spend_minor(data)
    has_mortgage, standing = _assign_groups(n, config, rng)
    customers = [
        _customer(i, data, config, float(card_spend[i]), bool(has_mortgage[i]), standing[i],
                  int(atm_terminals[i]), rng)
        for i in range(n)
    ]
    if config.pay_mix == catalog.PAY_MIXES["default"]:
        return customers  # the default bank draws nothing more: the same seed gives the same bank as before
    return _with_pay_rhythms(customers, config, data.config.start_date, rng)


_GRID_DAYS = {catalog.WEEKLY: 7, catalog.BIWEEKLY: 14, catalog.FOUR_WEEKLY: 28}


def _with_pay_rhythms(customers: list[BankCustomer], config: BankConfig, start: dt.date,
                      rng: np.random.Generator) -> list[BankCustomer]:
    """Each customer's pay rhythm drawn from the mix; grid rhythms get a first payday (a Friday mostly, some
    Thursdays), gig workers a platform as their payer."""
    rhythms = [_pick(rng, config.pay_mix) for _ in customers]
    out = []
    for c, rhythm in zip(customers, rhythms, strict=True):
        first, employer = 0, c.employer
        period = _GRID_DAYS.get(rhythm)
        if period:
            weekday = 4 if rng.random() < 0.8 else 3
            first = (weekday - start.weekday()) % 7 + 7 * int(rng.integers(0, period // 7))
        elif rhythm == catalog.GIG:
            employer = catalog.GIG_PLATFORMS[int(rng.integers(0, len(catalog.GIG_PLATFORMS)))]
        # The opening balance carries the customer to their first pay day (plus the buffer): the first pay of
        # their own rhythm, not the profile's day of the month.
        shift = _first_pay_offset(rhythm, first, start, c.payday) - _days_to_day_of_month(start, c.payday)
        opening = c.opening_balance_minor + round(shift / DAYS_PER_MONTH * c.monthly_outgoings_minor)
        out.append(dataclasses.replace(c, pay_rhythm=rhythm, first_pay_day=first, employer=employer,
                                       opening_balance_minor=opening))
    return out


def _first_pay_offset(rhythm: str, first_pay_day: int, start: dt.date, payday: int) -> int:
    """Days from the start to the customer's first pay in their rhythm (before any weekend shift)."""
    if rhythm == catalog.MONTHLY:
        return _days_to_day_of_month(start, payday)
    if rhythm in _GRID_DAYS:
        return first_pay_day
    if rhythm == catalog.GIG:
        return round(1 / catalog.GIG_PAYOUT_DAY_PROBABILITY)
    day = start
    while not ((rhythm == catalog.SEMI_MONTHLY and day.day == 15) or (day + dt.timedelta(days=1)).day == 1):
        day += dt.timedelta(days=1)
    return (day - start).days
