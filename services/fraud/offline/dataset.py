"""Read a CSV with the Fraud Detection Handbook's columns into time-ordered transactions and labels.

Any file with the Handbook's columns works (extra columns are ignored). Amounts become integer minor units of
one currency; TX_DATETIME is read as UTC.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.fraud.events import TxEvent
from services.platform.errors import ValidationError

REQUIRED_COLUMNS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")
DAY_SECONDS = 86400


@dataclass(frozen=True)
class HandbookData:
    """Columns of a Handbook dataset, sorted by time. `ts` in seconds since the epoch (UTC)."""

    tx_id: np.ndarray  # str
    customer_id: np.ndarray  # str
    terminal_id: np.ndarray  # str
    ts: np.ndarray  # int64
    amount_minor: np.ndarray  # int64
    fraud: np.ndarray  # int8
    scenario: np.ndarray  # int8 (0 when the file has no TX_FRAUD_SCENARIO)
    currency: str

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def day(self) -> np.ndarray:
        """Calendar day number (days since the epoch) of each transaction."""
        return self.ts // DAY_SECONDS

    def select(self, mask: np.ndarray) -> HandbookData:
        return HandbookData(self.tx_id[mask], self.customer_id[mask], self.terminal_id[mask], self.ts[mask],
                            self.amount_minor[mask], self.fraud[mask], self.scenario[mask], self.currency)

    def prefixed(self, prefix: str) -> HandbookData:
        """The same data with `prefix` before every transaction, customer and terminal id (another bank)."""
        def ids(values: np.ndarray) -> np.ndarray:
            return np.array([prefix + str(v) for v in values.tolist()], dtype=object)

        return HandbookData(ids(self.tx_id), ids(self.customer_id), ids(self.terminal_id), self.ts,
                            self.amount_minor, self.fraud, self.scenario, self.currency)

    def events(self, exponent: int = 2) -> Iterator[TxEvent]:
        scale = 10.0 ** exponent
        for i in range(len(self.ts)):
            minor = int(self.amount_minor[i])
            yield TxEvent(tx_id=self.tx_id[i], customer_id=self.customer_id[i],
                          terminal_id=self.terminal_id[i], ts=float(self.ts[i]), amount_minor=minor,
                          currency=self.currency, amount=minor / scale)


def read_handbook_csv(path: str | Path, currency: str = "EUR") -> HandbookData:
    """Load and time-sort a Handbook-column CSV. Raises ValidationError on a missing column or bad value."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValidationError("csv", f"{path} is empty")
        col = {name.strip(): i for i, name in enumerate(header)}
        missing = [c for c in REQUIRED_COLUMNS if c not in col]
        if missing:
            raise ValidationError("csv", f"{path} lacks the Handbook column(s) {', '.join(missing)}")
        rows = list(reader)
    if not rows:
        raise ValidationError("csv", f"{path} has no rows")
    columns = list(zip(*rows, strict=True))

    def column(name: str) -> tuple[str, ...]:
        return columns[col[name]]

    try:
        stamps = np.array([s.strip().replace(" ", "T") for s in column("TX_DATETIME")], dtype="datetime64[s]")
        amounts = np.rint(np.array(column("TX_AMOUNT"), dtype=np.float64) * 100).astype(np.int64)
        fraud = np.array(column("TX_FRAUD"), dtype=np.float64).astype(np.int8)
        scenario = (np.array(column("TX_FRAUD_SCENARIO"), dtype=np.float64).astype(np.int8)
                    if "TX_FRAUD_SCENARIO" in col else np.zeros(len(rows), dtype=np.int8))
    except ValueError as exc:
        raise ValidationError("csv", f"{path}: unreadable value ({exc})") from exc
    if (amounts < 0).any():
        raise ValidationError("csv.TX_AMOUNT", "must not be negative")
    ts = stamps.astype(np.int64)
    order = np.argsort(ts, kind="stable")
    return HandbookData(
        tx_id=np.array(column("TRANSACTION_ID"), dtype=object)[order],
        customer_id=np.array(column("CUSTOMER_ID"), dtype=object)[order],
        terminal_id=np.array(column("TERMINAL_ID"), dtype=object)[order],
        ts=ts[order], amount_minor=amounts[order], fraud=fraud[order], scenario=scenario[order],
        currency=currency,
    )


def from_simulator(tx: object, currency: str = "EUR") -> HandbookData:
    """Wrap the simulator's Handbook transactions (`services.simulator.handbook.Transactions`)."""
    origin = np.datetime64(tx.start_date.isoformat(), "s").astype(np.int64)  # type: ignore[attr-defined]
    return HandbookData(
        tx_id=tx.transaction_id.astype(str).astype(object),  # type: ignore[attr-defined]
        customer_id=tx.customer_id.astype(str).astype(object),  # type: ignore[attr-defined]
        terminal_id=tx.terminal_id.astype(str).astype(object),  # type: ignore[attr-defined]
        ts=origin + tx.tx_time_seconds.astype(np.int64),  # type: ignore[attr-defined]
        amount_minor=tx.amount_minor.astype(np.int64),  # type: ignore[attr-defined]
        fraud=tx.tx_fraud.astype(np.int8),  # type: ignore[attr-defined]
        scenario=tx.tx_fraud_scenario.astype(np.int8),  # type: ignore[attr-defined]
        currency=currency,
    )


def combine(parts: dict[str, HandbookData]) -> HandbookData:
    """Several banks' data as one time-ordered dataset; each bank's ids get its key as a prefix, so customers,
    cards and terminals never mix (features are computed per bank as if each were alone)."""
    if not parts:
        raise ValidationError("data", "nothing to combine")
    currencies = {p.currency for p in parts.values()}
    if len(currencies) != 1:
        raise ValidationError("currency", f"banks in different currencies: {sorted(currencies)}")
    named = [p.prefixed(f"{key}:") for key, p in parts.items()]
    ts = np.concatenate([p.ts for p in named])
    order = np.argsort(ts, kind="stable")

    def cat(column: str) -> np.ndarray:
        return np.concatenate([getattr(p, column) for p in named])[order]

    return HandbookData(cat("tx_id"), cat("customer_id"), cat("terminal_id"), ts[order], cat("amount_minor"),
                        cat("fraud"), cat("scenario"), currencies.pop())
