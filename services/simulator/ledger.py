"""Booking: runs each customer's planned rows through the account in time order.

Per customer, in time order: credits add; debits subtract, except a mortgage payment that the balance plus
the arranged overdraft cannot cover, which is RETURNED (no money moves: ``balance_after`` is unchanged).
When a booked debit takes the balance from >= 0 to < 0 an overdraft episode starts and an overdraft fee
(channel FEE) is charged at 23:59:59 that day. Card payments are never declined (the Handbook's
transactions all stay in the data), so a balance can go beyond the arranged limit.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from services.gen.proactivecare.v1 import events_pb2
from services.simulator.customers import BankCustomer
from services.simulator.handbook import SECONDS_PER_DAY
from services.simulator.merchants import MerchantDirectory
from services.simulator.schedule import CREDIT_KINDS, CURRENT, SAVINGS, Kind, Plan

BOOKED = events_pb2.TRANSACTION_STATUS_BOOKED
RETURNED = events_pb2.TRANSACTION_STATUS_RETURNED
DEBIT = events_pb2.DIRECTION_DEBIT
CREDIT = events_pb2.DIRECTION_CREDIT

_CHANNEL_OF_KIND = {
    Kind.SALARY: events_pb2.CHANNEL_SALARY,
    Kind.LOAN_IN: events_pb2.CHANNEL_TRANSFER_IN,
    Kind.INTEREST: events_pb2.CHANNEL_INTEREST,
    Kind.BILL: events_pb2.CHANNEL_DIRECT_DEBIT,
    Kind.MORTGAGE: events_pb2.CHANNEL_MORTGAGE_PAYMENT,
    Kind.LOAN_REPAY: events_pb2.CHANNEL_DIRECT_DEBIT,
    Kind.ATM: events_pb2.CHANNEL_ATM,
    Kind.GAMBLING: events_pb2.CHANNEL_CARD_NOT_PRESENT,
    Kind.FEE: events_pb2.CHANNEL_FEE,
}
FEE_COUNTERPARTY = "cp_bank_fees"
FEE_DESCRIPTION = "Overdraft fee"


@dataclass(frozen=True)
class OverdraftEpisode:
    customer: int
    start_s: int  # the booked debit that took the balance below zero
    end_s: int | None  # the first booking that brought it back to >= 0; None = still overdrawn
    start_row: int  # position in the ledger


@dataclass(frozen=True)
class MissedPayment:
    customer: int
    due_day: int
    amount_minor: int
    row: int


@dataclass(eq=False)
class Ledger:
    """Booked rows in global time order (ties: per-customer booking order)."""

    time_s: np.ndarray
    customer: np.ndarray
    account: np.ndarray  # CURRENT / SAVINGS
    kind: np.ndarray
    channel: np.ndarray  # events_pb2.Channel
    direction: np.ndarray  # events_pb2.Direction
    amount_minor: np.ndarray
    status: np.ndarray  # events_pb2.TransactionStatus
    balance_after_minor: np.ndarray
    terminal: np.ndarray
    counterparty: np.ndarray
    description: np.ndarray
    handbook_id: np.ndarray
    bank_seq: np.ndarray  # number of the non-card rows in global order (-1 for card rows)
    counterparties: list[str]
    descriptions: list[str]
    overdraft_episodes: list[OverdraftEpisode]
    missed_payments: list[MissedPayment]
    position_of_plan_row: np.ndarray  # ledger position of each planned row

    def __len__(self) -> int:
        return len(self.time_s)

    def transaction_id(self, position: int) -> str:
        """Card rows keep the Handbook TRANSACTION_ID (``tx_000000123``); bank rows are ``bk_000000045``."""
        hid = int(self.handbook_id[position])
        return f"tx_{hid:09d}" if hid >= 0 else f"bk_{int(self.bank_seq[position]):09d}"


@dataclass
class _OpenEpisode:
    customer: int
    start_s: int
    start_seq: int
    end_s: int | None = None


@dataclass
class _Booked:
    """Booking output, in booking order (per customer, time order). ``src`` = planned row, -1 for a fee."""

    time_s: array = field(default_factory=lambda: array("q"))
    customer: array = field(default_factory=lambda: array("q"))
    src: array = field(default_factory=lambda: array("q"))
    balance: array = field(default_factory=lambda: array("q"))
    returned: array = field(default_factory=lambda: array("b"))
    episodes: list[_OpenEpisode] = field(default_factory=list)
    missed: list[tuple[int, int, int]] = field(default_factory=list)  # (customer, planned row, seq)


def _book_customers(
    rows: np.ndarray, plan: Plan, customers: list[BankCustomer], fee: int, end_of_data: int, out: _Booked
) -> None:
    """Book the planned ``rows`` (whole customers, sorted by customer then time) into ``out``."""
    time_s = plan.time_s[rows].tolist()
    cust = plan.customer[rows].tolist()
    account = plan.account[rows].tolist()
    kind = plan.kind[rows].tolist()
    amount = plan.amount_minor[rows].tolist()
    src = rows.tolist()
    credit_kinds = {int(k) for k in CREDIT_KINDS}
    mortgage = int(Kind.MORTGAGE)
    o_time, o_cust, o_src, o_balance, o_returned = out.time_s, out.customer, out.src, out.balance, out.returned

    def emit(t: int, c: int, s: int, bal: int, returned: int = 0) -> None:
        o_time.append(t)
        o_cust.append(c)
        o_src.append(s)
        o_balance.append(bal)
        o_returned.append(returned)

    current = -1
    balance = savings = limit = 0
    pending_fee: int | None = None
    open_episode: _OpenEpisode | None = None

    def charge_fee(t: int, c: int) -> None:
        nonlocal balance, open_episode
        before = balance
        balance -= fee
        if before >= 0 > balance:
            open_episode = _OpenEpisode(c, t, len(o_time))
            out.episodes.append(open_episode)
        emit(t, c, -1, balance)

    n = len(time_s)
    for j in range(n + 1):
        c = cust[j] if j < n else -2
        if c != current:
            if pending_fee is not None and pending_fee < end_of_data:
                charge_fee(pending_fee, current)
            if j == n:
                break
            current = c
            profile = customers[c]
            balance = profile.opening_balance_minor
            limit = profile.overdraft_limit_minor
            savings = profile.savings.balance_minor if profile.savings else 0
            pending_fee = None
            open_episode = None
        t, k, a = time_s[j], kind[j], amount[j]
        if pending_fee is not None and pending_fee <= t:
            charge_fee(pending_fee, c)
            pending_fee = None
        if account[j] == SAVINGS:
            savings += a
            emit(t, c, src[j], savings)
        elif k in credit_kinds:
            balance += a
            emit(t, c, src[j], balance)
            if open_episode is not None and balance >= 0:
                open_episode.end_s = t
                open_episode = None
        elif k == mortgage and balance + limit < a:
            out.missed.append((c, src[j], len(o_time)))
            emit(t, c, src[j], balance, 1)
        else:
            before = balance
            balance -= a
            if before >= 0 > balance:
                open_episode = _OpenEpisode(c, t, len(o_time))
                out.episodes.append(open_episode)
                if pending_fee is None and fee > 0:
                    pending_fee = (t // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY - 1
            emit(t, c, src[j], balance)


def book(
    plan: Plan,
    customers: list[BankCustomer],
    directory: MerchantDirectory,
    n_days: int,
    overdraft_fee_minor: int,
    chunk_rows: int = 250_000,
) -> Ledger:
    order = np.lexsort((plan.kind, plan.time_s, plan.customer))
    # Chunks of whole customers keep the Python lists of the booking loop small.
    customer_starts = np.flatnonzero(np.diff(plan.customer[order])) + 1
    at = np.searchsorted(customer_starts, np.arange(chunk_rows, len(order), chunk_rows))
    cuts = np.unique(customer_starts[at[at < len(customer_starts)]])
    out = _Booked()
    end_of_data = n_days * SECONDS_PER_DAY
    for rows in np.split(order, cuts):
        _book_customers(rows, plan, customers, overdraft_fee_minor, end_of_data, out)

    o_t = np.frombuffer(out.time_s, dtype=np.int64)
    glob = np.argsort(o_t, kind="stable")  # booking order is time order per customer
    position_of_seq = np.empty_like(glob)
    position_of_seq[glob] = np.arange(len(glob))
    src = np.frombuffer(out.src, dtype=np.int64)[glob]
    has_src = src >= 0
    safe = np.where(has_src, src, 0)

    kind = np.where(has_src, plan.kind[safe], int(Kind.FEE)).astype(np.int8)
    terminal = np.where(has_src, plan.terminal[safe], -1)
    online = directory.merchant_online[directory.terminal_merchant[np.maximum(terminal, 0)]]
    channel_of_kind = np.zeros(max(Kind) + 1, dtype=np.int8)
    for k, ch in _CHANNEL_OF_KIND.items():
        channel_of_kind[k] = ch
    channel = channel_of_kind[kind]
    card = (kind == int(Kind.CARD)) | (kind == int(Kind.DUPLICATE))
    channel[card] = np.where(online[card], events_pb2.CHANNEL_CARD_NOT_PRESENT, events_pb2.CHANNEL_CARD_PRESENT)
    credit = np.isin(kind, [int(k) for k in CREDIT_KINDS])

    counterparties = [*plan.counterparties, FEE_COUNTERPARTY]
    descriptions = [*plan.descriptions, FEE_DESCRIPTION]
    handbook_id = np.where(has_src, plan.handbook_id[safe], -1)
    bank_rows = handbook_id < 0
    position_of_plan_row = np.full(len(plan), -1, dtype=np.int64)
    position_of_plan_row[src[has_src]] = np.flatnonzero(has_src)
    return Ledger(
        time_s=o_t[glob],
        customer=np.frombuffer(out.customer, dtype=np.int64)[glob],
        account=np.where(has_src, plan.account[safe], CURRENT).astype(np.int8),
        kind=kind,
        channel=channel,
        direction=np.where(credit, CREDIT, DEBIT).astype(np.int8),
        amount_minor=np.where(has_src, plan.amount_minor[safe], overdraft_fee_minor),
        status=np.where(np.frombuffer(out.returned, dtype=np.int8)[glob] == 1, RETURNED, BOOKED).astype(np.int8),
        balance_after_minor=np.frombuffer(out.balance, dtype=np.int64)[glob],
        terminal=terminal,
        counterparty=np.where(has_src, plan.counterparty[safe], len(counterparties) - 1),
        description=np.where(has_src, plan.description[safe], len(descriptions) - 1),
        handbook_id=handbook_id,
        bank_seq=np.where(bank_rows, np.cumsum(bank_rows) - 1, -1),
        counterparties=counterparties,
        descriptions=descriptions,
        overdraft_episodes=[
            OverdraftEpisode(e.customer, e.start_s, e.end_s, int(position_of_seq[e.start_seq]))
            for e in out.episodes
        ],
        missed_payments=[
            MissedPayment(c, int(plan.due_day[row]), int(plan.amount_minor[row]), int(position_of_seq[seq]))
            for c, row, seq in out.missed
        ],
        position_of_plan_row=position_of_plan_row,
    )
