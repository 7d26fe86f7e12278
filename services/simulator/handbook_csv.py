"""CSV export and import in the Handbook's published column layout.

Columns: TRANSACTION_ID, TX_DATETIME ("2018-04-01 00:00:31", UTC), CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT
(major units, 2 decimals), TX_TIME_SECONDS, TX_TIME_DAYS, TX_FRAUD, TX_FRAUD_SCENARIO. The reader accepts
any CSV with these columns (extra columns, e.g. a leading pandas index, are ignored).
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from services.simulator.handbook import SECONDS_PER_DAY, Transactions

COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
)
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_amount(amount_minor: int) -> str:
    """Cents to the Handbook's decimal text: 5716 -> "57.16"."""
    return f"{amount_minor // 100}.{amount_minor % 100:02d}"


def parse_amount(text: str) -> int:
    """Decimal text to cents without binary floating point: "57.16" -> 5716.

    Float artefacts written by pandas ("285.79999999999995") are rounded half-even to the cent.
    """
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def write_csv(tx: Transactions, path: str | Path) -> int:
    """Write ``tx`` in the Handbook layout; returns the number of rows."""
    origin = dt.datetime.combine(tx.start_date, dt.time())
    n_days = int(tx.tx_time_days.max()) + 1 if len(tx) else 0
    day_text = [(origin + dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in range(n_days)]
    with open(path, "w", newline="", encoding="ascii") as f:
        f.write(",".join(COLUMNS) + "\n")
        rows = zip(
            tx.transaction_id.tolist(),
            tx.tx_time_seconds.tolist(),
            tx.customer_id.tolist(),
            tx.terminal_id.tolist(),
            tx.amount_minor.tolist(),
            tx.tx_fraud.tolist(),
            tx.tx_fraud_scenario.tolist(),
            strict=True,
        )
        lines = []
        for tid, seconds, customer, terminal, amount, fraud, scenario in rows:
            day, tod = divmod(seconds, SECONDS_PER_DAY)
            hh, rest = divmod(tod, 3600)
            mm, ss = divmod(rest, 60)
            lines.append(
                f"{tid},{day_text[day]} {hh:02d}:{mm:02d}:{ss:02d},{customer},{terminal},"
                f"{format_amount(amount)},{seconds},{day},{fraud},{scenario}\n"
            )
            if len(lines) >= 100_000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)
    return len(tx)


def read_csv(path: str | Path) -> Transactions:
    """Read a Handbook-layout CSV. Rows are re-sorted by time; ``transaction_id`` becomes the position.

    The start date is derived from the first row (TX_DATETIME minus TX_TIME_SECONDS).
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        col = {name: header.index(name) for name in COLUMNS}
        first_datetime: str | None = None
        first_seconds = 0
        seconds, customer, terminal, amount, fraud, scenario = [], [], [], [], [], []
        for row in reader:
            if not row:
                continue
            if first_datetime is None:
                first_datetime = row[col["TX_DATETIME"]]
                first_seconds = int(row[col["TX_TIME_SECONDS"]])
            seconds.append(int(row[col["TX_TIME_SECONDS"]]))
            customer.append(int(row[col["CUSTOMER_ID"]]))
            terminal.append(int(row[col["TERMINAL_ID"]]))
            amount.append(parse_amount(row[col["TX_AMOUNT"]]))
            fraud.append(int(row[col["TX_FRAUD"]]))
            scenario.append(int(row[col["TX_FRAUD_SCENARIO"]]))
    if first_datetime is None:
        start = dt.date(2018, 4, 1)
    else:
        first = dt.datetime.strptime(first_datetime[:19], DATETIME_FORMAT)
        start = (first - dt.timedelta(seconds=first_seconds)).date()
    sec = np.asarray(seconds, dtype=np.int64)
    order = np.argsort(sec, kind="stable")
    return Transactions(
        start_date=start,
        tx_time_seconds=sec[order],
        customer_id=np.asarray(customer, dtype=np.int64)[order],
        terminal_id=np.asarray(terminal, dtype=np.int64)[order],
        amount_minor=np.asarray(amount, dtype=np.int64)[order],
        tx_fraud=np.asarray(fraud, dtype=np.int8)[order],
        tx_fraud_scenario=np.asarray(scenario, dtype=np.int8)[order],
    )
