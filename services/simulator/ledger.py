"""Booking: runs each customer's planned rows through the account in time order.

Per customer, in time order: credits add; debits subtract, except a mortgage payment that the balance plus
the arranged overdraft cannot cover, which is RETURNED (no money moves: ``balance_after`` is unchanged).
When a booked debit takes the balance from >= 0 to < 0 an overdraft episode starts and an overdraft fee
(channel FEE) is charged at 23:59:59 that day. Card payments are never declined (the Handbook's
transactions all stay in the data), so a balance can go beyond the arranged limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.gen.proactivecare.v1 import events_pb2
from services.simulator.customers import BankCustomer
from services.simulator.handbook import SECONDS_PER_DAY
from services.simulator.merchants import MerchantDirectory
from services.simulator.schedule import CREDIT_KINDS, SAVINGS, Kind, Plan

BOOKED = events_pb2.BOOKED
RETURNED = events_pb2.RETURNED
DEBIT = events_pb2.DEBIT
CREDIT = events_pb2.CREDIT

_CHANNEL_OF_KIND = {
    Kind.SALARY: events_pb2.SALARY,
    Kind.LOAN_IN: events_pb2.TRANSFER_IN,
    Kind.INTEREST: events_pb2.INTEREST,
    Kind.BILL: events_pb2.DIRECT_DEBIT,
    Kind.MORTGAGE: events_pb2.MORTGAGE_PAYMENT,
    Kind.LOAN_REPAY: events_pb2.DIRECT_DEBIT,
    Kind.ATM: events_pb2.ATM,
    Kind.GAMBLING: events_pb2.CARD_NOT_PRESENT,
    Kind.FEE: events_pb2.FEE,
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


def book(
    plan: Plan,
    customers: list[BankCustomer],
    directory: MerchantDirectory,
    n_days: int,
    overdraft_fee_minor: int,
) -> Ledger:
    order = np.lexsort((plan.kind, plan.time_s, plan.customer))
    time_s = plan.time_s[order].tolist()
    cust = plan.customer[order].tolist()
    account = plan.account[order].tolist()
    kind = plan.kind[order].tolist()
    amount = plan.amount_minor[order].tolist()
    plan_rows = order.tolist()

    card_online = directory.merchant_online[directory.terminal_merchant[plan.terminal[order]]].tolist()
    counterparties = list(plan.counterparties)
    descriptions = list(plan.descriptions)
    fee_cp, fee_desc = len(counterparties), len(descriptions)
    counterparties.append(FEE_COUNTERPARTY)
    descriptions.append(FEE_DESCRIPTION)

    credit_kinds = {int(k) for k in CREDIT_KINDS}
    card_kinds = {int(Kind.CARD), int(Kind.DUPLICATE)}
    channel_of_kind = {int(k): int(v) for k, v in _CHANNEL_OF_KIND.items()}
    mortgage, fee_kind, savings_account = int(Kind.MORTGAGE), int(Kind.FEE), SAVINGS
    end_of_data = n_days * SECONDS_PER_DAY

    # Output columns (booking order); src = planned row, -1 for fees.
    o_time: list[int] = []
    o_cust: list[int] = []
    o_account: list[int] = []
    o_kind: list[int] = []
    o_channel: list[int] = []
    o_dir: list[int] = []
    o_amount: list[int] = []
    o_status: list[int] = []
    o_balance: list[int] = []
    o_src: list[int] = []
    episodes: list[_OpenEpisode] = []
    missed: list[tuple[int, int, int]] = []  # (customer, plan row, seq)
    fee = overdraft_fee_minor

    def emit(t: int, c: int, acc: int, k: int, ch: int, d: int, a: int, st: int, bal: int, src: int) -> None:
        o_time.append(t)
        o_cust.append(c)
        o_account.append(acc)
        o_kind.append(k)
        o_channel.append(ch)
        o_dir.append(d)
        o_amount.append(a)
        o_status.append(st)
        o_balance.append(bal)
        o_src.append(src)

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
            episodes.append(open_episode)
        emit(t, c, 0, fee_kind, events_pb2.FEE, DEBIT, fee, BOOKED, balance, -1)

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
        if k in card_kinds:
            channel = events_pb2.CARD_NOT_PRESENT if card_online[j] else events_pb2.CARD_PRESENT
        else:
            channel = channel_of_kind[k]
        if account[j] == savings_account:
            savings += a
            emit(t, c, savings_account, k, channel, CREDIT, a, BOOKED, savings, plan_rows[j])
            continue
        if k in credit_kinds:
            balance += a
            emit(t, c, 0, k, channel, CREDIT, a, BOOKED, balance, plan_rows[j])
            if open_episode is not None and balance >= 0:
                open_episode.end_s = t
                open_episode = None
            continue
        if k == mortgage and balance + limit < a:
            missed.append((c, plan_rows[j], len(o_time)))
            emit(t, c, 0, k, channel, DEBIT, a, RETURNED, balance, plan_rows[j])
            continue
        before = balance
        balance -= a
        if before >= 0 > balance:
            open_episode = _OpenEpisode(c, t, len(o_time))
            episodes.append(open_episode)
            if pending_fee is None and fee > 0:
                pending_fee = (t // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY - 1
        emit(t, c, 0, k, channel, DEBIT, a, BOOKED, balance, plan_rows[j])

    src = np.asarray(o_src, dtype=np.int64)
    o_t = np.asarray(o_time, dtype=np.int64)
    glob = np.argsort(o_t, kind="stable")  # booking order is time order per customer
    position_of_seq = np.empty_like(glob)
    position_of_seq[glob] = np.arange(len(glob))
    src_g = src[glob]
    has_src = src_g >= 0
    safe = np.where(has_src, src_g, 0)

    def gather(col: np.ndarray, fill: int) -> np.ndarray:
        return np.where(has_src, col[safe], fill)

    handbook_id = gather(plan.handbook_id, -1)
    bank_rows = handbook_id < 0
    bank_seq = np.where(bank_rows, np.cumsum(bank_rows) - 1, -1)
    position_of_plan_row = np.full(len(plan), -1, dtype=np.int64)
    position_of_plan_row[src_g[has_src]] = np.flatnonzero(has_src)
    return Ledger(
        time_s=o_t[glob],
        customer=np.asarray(o_cust, dtype=np.int64)[glob],
        account=np.asarray(o_account, dtype=np.int8)[glob],
        kind=np.asarray(o_kind, dtype=np.int8)[glob],
        channel=np.asarray(o_channel, dtype=np.int8)[glob],
        direction=np.asarray(o_dir, dtype=np.int8)[glob],
        amount_minor=np.asarray(o_amount, dtype=np.int64)[glob],
        status=np.asarray(o_status, dtype=np.int8)[glob],
        balance_after_minor=np.asarray(o_balance, dtype=np.int64)[glob],
        terminal=gather(plan.terminal, -1),
        counterparty=np.where(has_src, plan.counterparty[safe], fee_cp),
        description=np.where(has_src, plan.description[safe], fee_desc),
        handbook_id=handbook_id,
        bank_seq=bank_seq,
        counterparties=counterparties,
        descriptions=descriptions,
        overdraft_episodes=[
            OverdraftEpisode(e.customer, e.start_s, e.end_s, int(position_of_seq[e.start_seq])) for e in episodes
        ],
        missed_payments=[
            MissedPayment(c, int(plan.due_day[row]), int(plan.amount_minor[row]), int(position_of_seq[seq]))
            for c, row, seq in missed
        ],
        position_of_plan_row=position_of_plan_row,
    )
