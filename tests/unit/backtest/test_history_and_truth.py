"""The backtest's input format (JSON lines and CSV, validated row by row, bad rows reported by line with their
reason) and the truth it derives from the history itself."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format

from services.backtest import history as hist
from services.backtest import truth
from services.gen.proactivecare.v1 import common_pb2, events_pb2


def gbp(minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=minor, currency="GBP")


def payment(tx_id: str, customer: str, day: date, amount: int, balance: int, *,
            channel: int = events_pb2.CHANNEL_CARD_PRESENT, credit: bool = False,
            status: int = events_pb2.TRANSACTION_STATUS_BOOKED, card: str = "") -> events_pb2.Transaction:
    tx = events_pb2.Transaction(id=tx_id, customer_id=customer, account_id=f"{customer}-acc", amount=gbp(amount),
                                direction=events_pb2.DIRECTION_CREDIT if credit else events_pb2.DIRECTION_DEBIT,
                                channel=channel, balance_after=gbp(balance), status=status, card_token=card,
                                terminal_id="T1" if card else "")
    tx.timestamp.FromDatetime(datetime(day.year, day.month, day.day, 10, tzinfo=UTC))
    return tx


def line(kind: str, message) -> str:
    return json.dumps({"type": kind, **json_format.MessageToDict(message)})


BAD_LINES = [
    ('{"type": "transaction", "id": "t1"', "line", "is not JSON"),
    ('["a list"]', "line", "is not a JSON object"),
    ('{"type": "payment", "id": "t1"}', "type", "must be one of transaction, profile, fraud_label"),
    ('{"type": "transaction", "id": "t1", "amout": 5}', "transaction", "has no field named \"amout\""),
    ('{"type": "transaction", "id": "t1", "customerId": "C1"}', "transaction.timestamp", "is required"),
    ('{"type": "profile", "customerId": "C1", "timeZone": "Mars/Base"}', "profile.time_zone",
     "is not a known IANA time zone"),
    ('{"type": "fraud_label", "transactionId": "t1", "fraud": true}', "transaction_id", "is required"),
    ('{"type": "fraud_label", "transaction_id": "t1", "fraud": "yes"}', "fraud", "must be true or false"),
]


def test_bad_json_lines_are_reported_by_line_with_their_reason_and_skipped(tmp_path: Path) -> None:
    good = payment("ok-1", "C1", date(2025, 3, 3), 1_000, 5_000)
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join([line("transaction", good), *(text for text, _f, _r in BAD_LINES)]) + "\n")
    read = hist.read(path)
    assert [t.id for t in read.transactions] == ["ok-1"]
    assert [(b.line, b.field) for b in read.bad_rows] == [(i + 2, f) for i, (_t, f, _r) in enumerate(BAD_LINES)]
    for bad, (_text, _field, reason) in zip(read.bad_rows, BAD_LINES, strict=True):
        assert reason in bad.reason, (bad, reason)
        assert str(bad).startswith(f"history.jsonl:{bad.line}: {bad.field}: ")


CSV_HEADER = "id,customer_id,account_id,timestamp,amount_minor,currency,direction,channel,balance_after_minor,fraud\n"


@pytest.mark.parametrize(("row", "field", "reason"), [
    ("t2,C1,a,2025-03-01T10:00:00Z,12.50,GBP,DEBIT,CARD_PRESENT,100,", "amount_minor", "must be an integer"),
    ("t2,C1,a,yesterday,100,GBP,DEBIT,CARD_PRESENT,100,", "timestamp", "ISO 8601"),
    ("t2,C1,a,2025-03-01T10:00:00,100,GBP,DEBIT,CARD_PRESENT,100,", "timestamp", "needs a UTC offset"),
    ("t2,C1,a,2025-03-01T10:00:00Z,100,GBP,SIDEWAYS,CARD_PRESENT,100,", "direction", "is not one of"),
    ("t2,C1,a,2025-03-01T10:00:00Z,100,XXY,DEBIT,CARD_PRESENT,100,", "transaction.amount.currency",
     "unknown ISO 4217"),
    ("t2,,a,2025-03-01T10:00:00Z,100,GBP,DEBIT,CARD_PRESENT,100,", "transaction.customer_id", "is required"),
    ("t2,C1,a,2025-03-01T10:00:00Z,100,GBP,DEBIT,CARD_PRESENT,100,maybe", "fraud", "must be 0, 1, true or false"),
])
def test_bad_csv_rows_are_reported_by_line_with_their_reason(tmp_path: Path, row: str, field: str,
                                                             reason: str) -> None:
    path = tmp_path / "history.csv"
    path.write_text(CSV_HEADER + "t1,C1,a,2025-03-01T09:00:00Z,100,GBP,DEBIT,CARD_PRESENT,900,0\n" + row + "\n")
    read = hist.read(path)
    assert [t.id for t in read.transactions] == ["t1"] and read.fraud_labels == {"t1": False}
    (bad,) = read.bad_rows
    assert (bad.line, bad.field) == (3, field) and reason in bad.reason


def test_a_csv_without_the_required_columns_is_refused_once(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("id,customer_id\nt1,C1\n")
    (bad,) = hist.read(path).bad_rows
    assert bad.field == "header" and "timestamp" in bad.reason


def test_overdraft_episodes_start_where_the_balance_crosses_below_zero() -> None:
    days = [date(2025, 3, d) for d in range(1, 8)]
    balances = [500, -100, -300, 200, -50, -60, 10]
    txs = [payment(f"t{i}", "C1", d, 10, b) for i, (d, b) in enumerate(zip(days, balances, strict=True))]
    episodes, measured = truth.overdraft_episodes(txs)
    assert measured and [(c, at.date()) for c, at in episodes] == [("C1", date(2025, 3, 2)), ("C1", date(2025, 3, 5))]
    no_balance = events_pb2.Transaction()
    no_balance.CopyFrom(txs[0])
    no_balance.ClearField("balance_after")
    assert truth.overdraft_episodes([no_balance]) == ([], False)


def _mortgage_profile(customer: str, payment_day: int = 1) -> events_pb2.CustomerProfile:
    p = events_pb2.CustomerProfile(customer_id=customer)
    m = events_pb2.Mortgage(id="m1", jurisdiction="UK", balance=gbp(100_000_00), monthly_payment=gbp(900_00),
                            payment_day=payment_day, remaining_term_months=200, rate_bps=400)
    p.products.add(id="m1", type=events_pb2.PRODUCT_TYPE_MORTGAGE, balance=m.balance, mortgage=m)
    return p


def test_a_missed_mortgage_payment_is_a_due_date_without_a_booked_payment_near_it() -> None:
    mortgage = events_pb2.CHANNEL_MORTGAGE_PAYMENT
    txs = [payment("a", "M1", date(2025, 1, 1), 900_00, 1_000, channel=mortgage),
           payment("b", "M1", date(2025, 2, 2), 900_00, 1_000, channel=mortgage),
           payment("c", "M1", date(2025, 3, 1), 900_00, 1_000, channel=mortgage,
                   status=events_pb2.TRANSACTION_STATUS_RETURNED),          # collected, then returned: missed
           payment("d", "M1", date(2025, 4, 1), 900_00, 1_000, channel=mortgage),
           payment("e", "M1", date(2025, 5, 20), 10, 1_000),
           payment("x", "M2", date(2025, 1, 5), 10, 1_000), payment("y", "M2", date(2025, 5, 5), 10, 1_000)]
    missed, holders, not_measured = truth.missed_payments(txs, [_mortgage_profile("M1"), _mortgage_profile("M2")])
    assert missed == [("M1", date(2025, 3, 1)), ("M1", date(2025, 5, 1))]
    assert holders == {"M1"} and not_measured == {"M2"}   # M2's feed carries no mortgage payment at all
