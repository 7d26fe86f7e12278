"""Planned account events per customer: the Handbook card payments plus salaries, bills, mortgage payments,
cash withdrawals, gambling, payday loans, duplicate charges and savings interest.

Planned events carry no balance: ``ledger.book`` runs them through each account in time order and decides
fees and returned payments. Card rows are vectorized; the monthly schedules are a few dozen rows a customer.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

import numpy as np

from services.simulator import catalog, dates
from services.simulator.bank_config import BankConfig
from services.simulator.customers import ATM_AMOUNTS_MINOR, DAYS_PER_MONTH, BankCustomer
from services.simulator.handbook import SECONDS_PER_DAY, HandbookDataset, Transactions
from services.simulator.merchants import MerchantDirectory


class Kind(enum.IntEnum):
    """What a ledger row is; the order is the booking priority of rows at the same second."""

    SALARY = 0
    LOAN_IN = 1
    INTEREST = 2
    BILL = 3
    MORTGAGE = 4
    LOAN_REPAY = 5
    CARD = 6
    DUPLICATE = 7
    ATM = 8
    GAMBLING = 9
    FEE = 10


CREDIT_KINDS = frozenset({Kind.SALARY, Kind.LOAN_IN, Kind.INTEREST})
CURRENT, SAVINGS = 0, 1  # account of a row


class Interner:
    """Small string table: rows store an index."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found


@dataclass(frozen=True)
class PriceRise:
    customer: int
    counterparty_id: str
    day: int  # first collection at the new price
    old_minor: int
    new_minor: int
    row: int  # planned row of that collection


@dataclass(frozen=True)
class LateSalary:
    customer: int
    due_day: int
    paid_day: int
    row: int


@dataclass(frozen=True)
class Duplicate:
    customer: int
    original_row: int
    duplicate_row: int
    amount_minor: int


@dataclass
class Plan:
    """Columnar planned rows (before booking)."""

    time_s: np.ndarray
    customer: np.ndarray
    account: np.ndarray
    kind: np.ndarray
    amount_minor: np.ndarray
    terminal: np.ndarray  # -1 = none
    counterparty: np.ndarray  # index into counterparties; -1 = the merchant of the terminal
    description: np.ndarray  # index into descriptions; -1 = the merchant's name
    handbook_id: np.ndarray  # Handbook TRANSACTION_ID of card rows; -1 otherwise
    due_day: np.ndarray  # scheduled day of salaries and mortgage payments; -1 otherwise
    counterparties: list[str]
    descriptions: list[str]
    price_rises: list[PriceRise] = field(default_factory=list)
    late_salaries: list[LateSalary] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time_s)


class _Rows:
    """Row accumulator for the scheduled (non-Handbook) rows."""

    def __init__(self, offset: int) -> None:
        self.offset = offset  # row number of the first scheduled row (card rows come first)
        self.cols: dict[str, list[int]] = {
            k: [] for k in ("time_s", "customer", "account", "kind", "amount_minor", "terminal",
                            "counterparty", "description", "due_day")
        }
        self.counterparties = Interner()
        self.descriptions = Interner()

    def add(
        self,
        *,
        time_s: int,
        customer: int,
        kind: Kind,
        amount_minor: int,
        counterparty: str | None = None,
        description: str | None = None,
        terminal: int = -1,
        account: int = CURRENT,
        due_day: int = -1,
    ) -> int:
        c = self.cols
        c["time_s"].append(time_s)
        c["customer"].append(customer)
        c["account"].append(account)
        c["kind"].append(int(kind))
        c["amount_minor"].append(amount_minor)
        c["terminal"].append(terminal)
        c["counterparty"].append(-1 if counterparty is None else self.counterparties(counterparty))
        c["description"].append(-1 if description is None else self.descriptions(description))
        c["due_day"].append(due_day)
        return self.offset + len(c["time_s"]) - 1


def _at(day: int, rng: np.random.Generator, lo_s: int, hi_s: int) -> int:
    return day * SECONDS_PER_DAY + int(rng.integers(lo_s, hi_s))


def _salaries(
    rows: _Rows,
    c: BankCustomer,
    n_days: int,
    start: dt.date,
    rng: np.random.Generator,
    config: BankConfig,
    late: list[LateSalary],
) -> None:
    h = c.hardship
    description = f"Payout {c.employer}" if c.pay_rhythm == catalog.GIG else f"Salary {c.employer}"
    for due, amount in _pay_dates(c, n_days, start, rng, config):
        if h is not None and due >= h.start_day:
            amount = round(amount * h.income_factor)
            if amount == 0:
                continue
        paid = due
        if h is None and c.pay_rhythm != catalog.GIG and rng.random() < config.late_salary_probability:
            paid = min(due + int(rng.integers(1, 3)), n_days - 1)
        row = rows.add(
            time_s=_at(paid, rng, 3_600, 7_200),
            customer=c.index,
            kind=Kind.SALARY,
            amount_minor=amount,
            counterparty=c.employer_id,
            description=description,
            due_day=due,
        )
        if paid != due:
            late.append(LateSalary(c.index, due, paid, row))


_PER_YEAR = {catalog.WEEKLY: 52, catalog.BIWEEKLY: 26, catalog.FOUR_WEEKLY: 13, catalog.SEMI_MONTHLY: 24,
             catalog.MONTHLY: 12, catalog.LAST_WORKING_DAY: 12}
_GRID_DAYS = {catalog.WEEKLY: 7, catalog.BIWEEKLY: 14, catalog.FOUR_WEEKLY: 28}


def _pay_dates(
    c: BankCustomer, n_days: int, start: dt.date, rng: np.random.Generator, config: BankConfig
) -> list[tuple[int, int]]:
    """(day, amount) of each payment due in the customer's pay rhythm; `salary_minor` is the monthly amount."""
    rhythm = c.pay_rhythm
    if rhythm == catalog.GIG:
        p = catalog.GIG_PAYOUT_DAY_PROBABILITY
        mean_payout = c.salary_minor * 12 / 365.25 / p
        sigma = 0.5
        out = []
        for day in range(n_days):
            if rng.random() < p:
                out.append((day, max(100, round(mean_payout * float(rng.lognormal(-sigma * sigma / 2, sigma))))))
        return out
    amount = round(c.salary_minor * 12 / _PER_YEAR[rhythm])
    if rhythm == catalog.MONTHLY:
        days = list(dates.days_on_day_of_month(start, n_days, c.payday))
    elif rhythm in _GRID_DAYS:
        days = list(range(c.first_pay_day, n_days, _GRID_DAYS[rhythm]))
    elif rhythm == catalog.SEMI_MONTHLY:  # the 15th and the month's last day
        days = [d for d in range(n_days) if dates.to_date(start, d).day == 15 or _month_end(start, d)]
    else:  # LAST_WORKING_DAY
        days = [d for d in range(n_days) if _month_end(start, d)]
    if config.weekend_shift or rhythm == catalog.LAST_WORKING_DAY:
        days = [_working_day_before(start, d) for d in days]
        # a payday shifted to before the first simulated day is paid on the first working day instead
        days = [d if d >= 0 else _working_day_after(start, 0) for d in days]
    return [(d, amount) for d in days if 0 <= d < n_days]


def _month_end(start: dt.date, day: int) -> bool:
    return (dates.to_date(start, day) + dt.timedelta(days=1)).day == 1


def _working_day_after(start: dt.date, day: int) -> int:
    while dates.to_date(start, day).weekday() >= 5:
        day += 1
    return day


def _working_day_before(start: dt.date, day: int) -> int:
    while dates.to_date(start, day).weekday() >= 5:
        day -= 1
    return day


def _bills(
    rows: _Rows, c: BankCustomer, n_days: int, start: dt.date, rng: np.random.Generator, rises: list[PriceRise]
) -> None:
    for bill in c.bills:
        risen = False
        for day in dates.days_on_day_of_month(start, n_days, bill.day_of_month):
            amount = bill.amount_minor
            if bill.rise_day is not None and bill.new_amount_minor is not None and day >= bill.rise_day:
                amount = bill.new_amount_minor
            level = amount
            if bill.variation:
                amount = round(amount * (1 + float(rng.uniform(-bill.variation, bill.variation))))
            row = rows.add(
                time_s=_at(day, rng, 10_800, 18_000),
                customer=c.index,
                kind=Kind.BILL,
                amount_minor=amount,
                counterparty=bill.counterparty_id,
                description=bill.description,
            )
            if level != bill.amount_minor and not risen:
                risen = True
                rises.append(PriceRise(c.index, bill.counterparty_id, day, bill.amount_minor, level, row))


def _mortgage(rows: _Rows, c: BankCustomer, n_days: int, start: dt.date, rng: np.random.Generator) -> None:
    m = c.mortgage
    if m is None:
        return
    for day in dates.days_on_day_of_month(start, n_days, m.payment_day):
        rows.add(
            time_s=_at(day, rng, 10_800, 18_000),
            customer=c.index,
            kind=Kind.MORTGAGE,
            amount_minor=m.monthly_payment_minor,
            counterparty=f"cp_mortgage_{m.id}",
            description=f"Mortgage payment {m.id}",
            due_day=day,
        )


def _cash(rows: _Rows, c: BankCustomer, n_days: int, rng: np.random.Generator) -> None:
    n = int(rng.poisson(c.atm_per_month * n_days / DAYS_PER_MONTH)) if c.atm_per_month else 0
    for day in sorted(rng.integers(0, n_days, n).tolist()):
        rows.add(
            time_s=_at(day, rng, 7 * 3_600, 22 * 3_600),
            customer=c.index,
            kind=Kind.ATM,
            amount_minor=int(rng.choice(ATM_AMOUNTS_MINOR)),
            terminal=c.atm_terminal,
        )


def _gambling(
    rows: _Rows, c: BankCustomer, n_days: int, rng: np.random.Generator, directory: MerchantDirectory
) -> None:
    bets: list[tuple[int, int]] = []
    if c.gambling_per_month:
        n = int(rng.poisson(c.gambling_per_month * n_days / DAYS_PER_MONTH))
        bets += [(int(d), int(rng.integers(5, 31)) * 100) for d in rng.integers(0, n_days, n)]
    h = c.hardship
    if h is not None and h.start_day < n_days:
        stake = int(rng.integers(15, 61)) * 100
        months = (n_days - h.start_day) / DAYS_PER_MONTH
        n = int(rng.poisson(h.gambling_monthly_minor / stake * months))
        bets += [(int(d), stake) for d in rng.integers(h.start_day, n_days, n)]
    favourite = int(rng.choice(directory.gambling_terminals))
    for day, amount in sorted(bets):
        rows.add(
            time_s=_at(day, rng, 18 * 3_600, SECONDS_PER_DAY),
            customer=c.index,
            kind=Kind.GAMBLING,
            amount_minor=amount,
            terminal=favourite,
        )


def _payday_loan(rows: _Rows, c: BankCustomer, n_days: int, rng: np.random.Generator) -> None:
    h = c.hardship
    if h is None or not h.payday_loan_minor or h.payday_loan_day >= n_days:
        return
    lender = "cp_" + catalog.PAYDAY_LENDER.lower().replace(" ", "_")
    rows.add(
        time_s=_at(h.payday_loan_day, rng, 9 * 3_600, 17 * 3_600),
        customer=c.index,
        kind=Kind.LOAN_IN,
        amount_minor=h.payday_loan_minor,
        counterparty=lender,
        description=f"{catalog.PAYDAY_LENDER} advance",
    )
    repay_day = h.payday_loan_day + 30
    if repay_day < n_days:
        rows.add(
            time_s=_at(repay_day, rng, 10_800, 18_000),
            customer=c.index,
            kind=Kind.LOAN_REPAY,
            amount_minor=round(h.payday_loan_minor * 1.24),  # the UK cap: 0.8% a day
            counterparty=lender,
            description=f"{catalog.PAYDAY_LENDER} repayment",
        )


def _interest(rows: _Rows, c: BankCustomer, n_days: int, start: dt.date) -> None:
    s = c.savings
    if s is None:
        return
    balance = s.balance_minor
    for day in dates.days_on_day_of_month(start, n_days, 1):
        if day == 0:
            continue
        interest = balance * s.rate_bps // 120_000  # monthly, floored to the penny
        balance += interest
        rows.add(
            time_s=day * SECONDS_PER_DAY + 1_800,
            customer=c.index,
            kind=Kind.INTEREST,
            amount_minor=interest,
            counterparty="cp_bank_interest",
            description="Savings interest",
            account=SAVINGS,
        )


_PAY_CYCLE_MAX_DAYS = 35  # the longest pay cycle (monthly, with a weekend shift and a late payment)


def _spending_after_pay(tx: Transactions, rows: _Rows, config: BankConfig, rng: np.random.Generator) -> np.ndarray:
    """The card payments' times, with spending that follows pay (`BankConfig.payday_spending`): each genuine
    card payment, with that probability, moves to one of the `payday_spending_days` days after the customer's
    last pay before it (same time of day; a payment already that close to its pay stays, and so does one more
    than `_PAY_CYCLE_MAX_DAYS` after it: a salary that stopped is no pay cycle), so the days after pay carry
    more of a pay cycle's spending and the days before the next pay less. Amounts, and what a customer spends
    over a pay cycle, are unchanged; fraud rows stay where the Handbook put them. No random draws when off: the
    same seed gives the same bank as before."""
    time_s = tx.tx_time_seconds.copy()
    kind = np.asarray(rows.cols["kind"], dtype=np.int64)
    pay = (kind == int(Kind.SALARY)) & (np.asarray(rows.cols["account"], dtype=np.int64) == CURRENT)
    if config.payday_spending <= 0 or not pay.any() or len(time_s) == 0:
        return time_s
    pay_customer = np.asarray(rows.cols["customer"], dtype=np.int64)[pay]
    pay_day = np.asarray(rows.cols["time_s"], dtype=np.int64)[pay] // SECONDS_PER_DAY
    order = np.lexsort((pay_day, pay_customer))
    pay_customer, pay_day = pay_customer[order], pay_day[order]
    stride = np.int64(1 << 32)
    day = time_s // SECONDS_PER_DAY
    last = np.maximum(np.searchsorted(pay_customer * stride + pay_day, tx.customer_id * stride + day,
                                      side="right") - 1, 0)
    paid_before = (pay_customer[last] == tx.customer_id) & (pay_day[last] <= day)
    window = config.payday_spending_days
    since = day - pay_day[last]
    moves = (paid_before & (tx.tx_fraud == 0) & (since >= window) & (since <= _PAY_CYCLE_MAX_DAYS)
             & (rng.random(len(time_s)) < config.payday_spending))
    new_day = pay_day[last] + rng.integers(0, window, len(time_s))
    return np.where(moves, new_day * SECONDS_PER_DAY + time_s % SECONDS_PER_DAY, time_s)


def build_plan(
    data: HandbookDataset,
    customers: list[BankCustomer],
    directory: MerchantDirectory,
    config: BankConfig,
    rng: np.random.Generator,
) -> Plan:
    tx = data.transactions
    n_card = len(tx)
    n_days, start = data.config.n_days, data.config.start_date
    rows = _Rows(offset=n_card)
    rises: list[PriceRise] = []
    late: list[LateSalary] = []
    for c in customers:
        _salaries(rows, c, n_days, start, rng, config, late)
        _bills(rows, c, n_days, start, rng, rises)
        _mortgage(rows, c, n_days, start, rng)
        _cash(rows, c, n_days, rng)
        _gambling(rows, c, n_days, rng, directory)
        _payday_loan(rows, c, n_days, rng)
        _interest(rows, c, n_days, start)

    card_time_s = _spending_after_pay(tx, rows, config, rng)
    # Duplicate charges: a genuine card payment charged again 20 s to 10 min later.
    duplicates: list[Duplicate] = []
    genuine = np.flatnonzero((tx.tx_fraud == 0) & (rng.random(n_card) < config.duplicate_probability))
    for i in genuine.tolist():
        row = rows.add(
            time_s=int(card_time_s[i]) + int(rng.integers(20, 601)),
            customer=int(tx.customer_id[i]),
            kind=Kind.DUPLICATE,
            amount_minor=int(tx.amount_minor[i]),
            terminal=int(tx.terminal_id[i]),
        )
        duplicates.append(Duplicate(int(tx.customer_id[i]), i, row, int(tx.amount_minor[i])))

    sched = {k: np.asarray(v, dtype=np.int64) for k, v in rows.cols.items()}
    n_sched = len(sched["time_s"])
    return Plan(
        time_s=np.concatenate((card_time_s, sched["time_s"])),
        customer=np.concatenate((tx.customer_id, sched["customer"])),
        account=np.concatenate((np.full(n_card, CURRENT), sched["account"])).astype(np.int8),
        kind=np.concatenate((np.full(n_card, int(Kind.CARD)), sched["kind"])).astype(np.int8),
        amount_minor=np.concatenate((tx.amount_minor, sched["amount_minor"])),
        terminal=np.concatenate((tx.terminal_id, sched["terminal"])),
        counterparty=np.concatenate((np.full(n_card, -1), sched["counterparty"])),
        description=np.concatenate((np.full(n_card, -1), sched["description"])),
        handbook_id=np.concatenate((tx.transaction_id, np.full(n_sched, -1))),
        due_day=np.concatenate((np.full(n_card, -1), sched["due_day"])),
        counterparties=rows.counterparties.values,
        descriptions=rows.descriptions.values,
        price_rises=rises,
        late_salaries=late,
        duplicates=duplicates,
    )

