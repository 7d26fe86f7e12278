from pathlib import Path

import pytest

from services.fraud.offline.dataset import combine, read_handbook_csv
from services.platform.errors import ValidationError

HEADER = ("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,"
          "TX_FRAUD,TX_FRAUD_SCENARIO\n")


def test_reads_any_handbook_csv_sorted_by_time_in_minor_units(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "1,2018-04-01 10:00:00,7,9,285.79999999999995,36000,0,1,1\n"
                          "0,2018-04-01 00:00:31,3,4,57.16,31,0,0,0\n")
    d = read_handbook_csv(p)
    assert d.tx_id.tolist() == ["0", "1"]
    assert d.amount_minor.tolist() == [5716, 28580]
    assert d.fraud.tolist() == [0, 1]
    assert d.ts[0] == 1522540831  # 2018-04-01T00:00:31Z
    assert [e.amount for e in d.events()] == [57.16, 285.8]


def test_missing_column_is_named(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TX_AMOUNT,TX_FRAUD\n0,2018-04-01 00:00:31,3,1.0,0\n")
    with pytest.raises(ValidationError, match="TERMINAL_ID"):
        read_handbook_csv(p)


def test_bad_value_is_a_validation_error(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(HEADER + "0,2018-04-01 00:00:31,3,4,abc,31,0,0,0\n")
    with pytest.raises(ValidationError):
        read_handbook_csv(p)


def test_two_banks_combine_in_time_order_with_their_ids_apart(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(HEADER + "0,2018-04-01 00:00:10,1,5,10.00,10,0,0,0\n1,2018-04-01 00:00:30,1,5,900.00,30,0,1,1\n")
    b.write_text(HEADER + "0,2018-04-01 00:00:20,1,5,900.00,20,0,0,0\n")
    d = combine({"book": read_handbook_csv(a), "varied": read_handbook_csv(b)})
    assert d.tx_id.tolist() == ["book:0", "varied:0", "book:1"]
    assert d.customer_id.tolist() == ["book:1", "varied:1", "book:1"]  # the same id in two banks: two customers
    assert d.terminal_id.tolist() == ["book:5", "varied:5", "book:5"]
    assert d.amount_minor.tolist() == [1000, 90000, 90000]
    assert d.fraud.tolist() == [0, 0, 1] and d.scenario.tolist() == [0, 0, 1]
    assert d.ts.tolist() == sorted(d.ts.tolist())


def test_banks_in_different_currencies_do_not_combine(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text(HEADER + "0,2018-04-01 00:00:10,1,5,10.00,10,0,0,0\n")
    with pytest.raises(ValidationError, match="currencies"):
        combine({"eur": read_handbook_csv(a), "gbp": read_handbook_csv(a, "GBP")})
