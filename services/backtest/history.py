"""A bank's history in the open input format, read and validated row by row.

JSON lines in the standard protobuf JSON mapping: `proactivecare.v1.Transaction` and
`proactivecare.v1.CustomerProfile`, one file each, or one mixed file where each line carries a `type`
("transaction", "profile", or "fraud_label" with `transaction_id` and `fraud`). Or CSV with named columns for the
common fields of a transaction (`CSV_COLUMNS`; an optional `fraud` column labels card payments).

Every row is checked with the stream's own validators; a bad row is reported with its file, line number, field
and reason, counted, and skipped: nothing is dropped silently.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from google.protobuf import json_format

from services.gen.proactivecare.v1 import common_pb2, events_pb2
from services.platform import enums
from services.platform.errors import ValidationError
from services.platform.validation import require_id, validate_customer_profile, validate_transaction

M = TypeVar("M", events_pb2.Transaction, events_pb2.CustomerProfile)
KINDS = ("transaction", "profile", "fraud_label")
CSV_COLUMNS = ("id", "customer_id", "account_id", "timestamp", "amount_minor", "currency", "direction", "channel",
               "balance_after_minor", "status", "card_token", "terminal_id", "merchant_id", "merchant_name", "mcc",
               "counterparty_id", "description", "fraud")
CSV_REQUIRED = ("id", "customer_id", "timestamp", "amount_minor", "currency", "direction", "channel")


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


@dataclass
class History:
    transactions: list[events_pb2.Transaction] = field(default_factory=list)
    profiles: list[events_pb2.CustomerProfile] = field(default_factory=list)
    fraud_labels: dict[str, bool] = field(default_factory=dict)   # transaction id -> fraud
    bad_rows: list[BadRow] = field(default_factory=list)

    def in_time_order(self) -> list[events_pb2.Transaction]:
        return sorted(self.transactions, key=lambda t: (t.timestamp.seconds, t.timestamp.nanos, t.id))

    def merge(self, other: History) -> History:
        return History(self.transactions + other.transactions, self.profiles + other.profiles,
                       {**self.fraud_labels, **other.fraud_labels}, self.bad_rows + other.bad_rows)


def read(path: Path, kind: str | None = None) -> History:
    """One file: `.csv` (transactions), else JSON lines (`kind` for a file of one type, else a `type` per line)."""
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    return _read_jsonl(path, kind)


def _read_jsonl(path: Path, kind: str | None) -> History:
    history = History()
    for line_no, text in _lines(path):
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValidationError("line", "is not a JSON object", "not_an_object")
            row_kind = raw.pop("type", None) or kind
            if row_kind not in KINDS:
                raise ValidationError("type", f"must be one of {', '.join(KINDS)}", "unknown_type")
            if row_kind == "fraud_label":
                require_id(str(raw.get("transaction_id", "")), "transaction_id")
                if not isinstance(raw.get("fraud"), bool):
                    raise ValidationError("fraud", "must be true or false", "invalid_label")
                history.fraud_labels[raw["transaction_id"]] = raw["fraud"]
            elif row_kind == "transaction":
                history.transactions.append(_transaction(raw))
            else:
                history.profiles.append(_profile(raw))
        except ValidationError as exc:
            history.bad_rows.append(BadRow(path.name, line_no, exc.field, exc.message))
        except json.JSONDecodeError as exc:
            history.bad_rows.append(BadRow(path.name, line_no, "line", f"is not JSON ({exc.msg})"))
    return history


def _transaction(raw: dict) -> events_pb2.Transaction:
    tx = _parse(raw, events_pb2.Transaction(), "transaction")
    validate_transaction(tx)
    return tx


def _profile(raw: dict) -> events_pb2.CustomerProfile:
    profile = _parse(raw, events_pb2.CustomerProfile(), "profile")
    validate_customer_profile(profile)
    return profile


def _parse(raw: dict, message: M, what: str) -> M:
    try:
        return json_format.ParseDict(raw, message)  # type: ignore[arg-type]
    except json_format.ParseError as exc:
        # e.g. 'Message type "proactivecare.v1.Transaction" has no field named "amout".'
        raise ValidationError(what, str(exc).split(" at ", 1)[0], "unparsable") from None


def _read_csv(path: Path) -> History:
    history = History()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            history.bad_rows.append(BadRow(path.name, 1, "header", f"lacks the columns {', '.join(missing)}"))
            return history
        for row in reader:
            line_no = reader.line_num
            try:
                tx = _csv_transaction(row)
                validate_transaction(tx)
                label = (row.get("fraud") or "").strip().lower()
                if label not in ("", "0", "1", "true", "false"):
                    raise ValidationError("fraud", "must be 0, 1, true or false", "invalid_label")
                history.transactions.append(tx)
                if label:
                    history.fraud_labels[tx.id] = label in ("1", "true")
            except ValidationError as exc:
                history.bad_rows.append(BadRow(path.name, line_no, exc.field, exc.message))
    return history


def _csv_transaction(row: dict[str, str]) -> events_pb2.Transaction:
    def integer(column: str) -> int:
        try:
            return int(row[column])
        except (TypeError, ValueError):
            raise ValidationError(column, f"must be an integer, not {row.get(column)!r}", "invalid_integer") from None

    try:
        at = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise ValidationError("timestamp", "must be an ISO 8601 instant, e.g. 2025-03-01T09:30:00Z",
                              "invalid_timestamp") from None
    if at.tzinfo is None:
        raise ValidationError("timestamp", "needs a UTC offset, e.g. 2025-03-01T09:30:00Z", "invalid_timestamp")
    tx = events_pb2.Transaction(id=row["id"], customer_id=row["customer_id"], account_id=row.get("account_id") or "",
                                card_token=row.get("card_token") or "", terminal_id=row.get("terminal_id") or "",
                                description=row.get("description") or "",
                                counterparty_id=row.get("counterparty_id") or "")
    tx.timestamp.FromDatetime(at.astimezone(UTC))
    tx.amount.CopyFrom(common_pb2.Money(amount_minor=integer("amount_minor"), currency=row["currency"]))
    if row.get("balance_after_minor"):
        tx.balance_after.CopyFrom(common_pb2.Money(amount_minor=integer("balance_after_minor"),
                                                   currency=row["currency"]))
    tx.direction = _enum(events_pb2.Direction, "direction", row["direction"])
    tx.channel = _enum(events_pb2.Channel, "channel", row["channel"])
    if row.get("status"):
        tx.status = _enum(events_pb2.TransactionStatus, "status", row["status"])
    if row.get("merchant_id") or row.get("merchant_name") or row.get("mcc"):
        tx.merchant.id, tx.merchant.name, tx.merchant.mcc = (row.get("merchant_id") or "",
                                                             row.get("merchant_name") or "", row.get("mcc") or "")
    return tx


def _enum(enum: object, column: str, value: str) -> int:
    try:
        return enums.value_of(enum, value.strip().upper())  # type: ignore[arg-type]
    except (KeyError, ValueError):
        names = ", ".join(enums.short_names(enum))  # type: ignore[arg-type]
        raise ValidationError(column, f"{value!r} is not one of {names}", f"invalid_{column}") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for line_no, text in enumerate(handle, start=1):
            if text.strip():
                yield line_no, text
