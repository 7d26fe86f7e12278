"""The Handbook generator at reduced scale: rates, distributions, amount and fraud-scenario rules."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from services.simulator import handbook, handbook_csv
from services.simulator.handbook import HandbookConfig, HandbookDataset

SMALL = HandbookConfig(n_customers=500, n_terminals=1_000, n_days=30, seed=7)


@pytest.fixture(scope="module")
def data() -> HandbookDataset:
    return handbook.generate(SMALL)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_transaction_rate_matches_poisson_means_of_customers_with_terminals(data: HandbookDataset) -> None:
    customers = data.customers
    has_terminal = customers.nb_terminals > 0
    # A time draw t is kept when 0 < int(t) < 86400, i.e. 1 <= t < 86400.
    p_kept = _normal_cdf((86_400 - 43_200) / 20_000) - _normal_cdf((1 - 43_200) / 20_000)
    expected = customers.mean_nb_tx_per_day[has_terminal].sum() * SMALL.n_days * p_kept
    assert len(data.transactions) == pytest.approx(expected, rel=0.03)
    # U(0, 4) means: about 2 transactions per customer-day before the time-of-day cut.
    assert len(data.transactions) / (has_terminal.sum() * SMALL.n_days) == pytest.approx(2 * p_kept, rel=0.08)


def test_customers_without_terminals_produce_nothing() -> None:
    # A tiny radius leaves most customers with no terminal at all.
    d = handbook.generate(HandbookConfig(n_customers=200, n_terminals=50, n_days=5, radius=2.0, seed=1))
    without = np.flatnonzero(d.customers.nb_terminals == 0)
    assert len(without) > 100
    assert not np.isin(d.transactions.customer_id, without).any()


def test_terminals_strictly_within_radius(data: HandbookDataset) -> None:
    c, t = data.customers, data.terminals
    for customer in (0, 17, 499):
        dist = np.hypot(t.x_km - c.x_km[customer], t.y_km - c.y_km[customer])
        np.testing.assert_array_equal(c.available_terminals(customer), np.flatnonzero(dist < SMALL.radius))


def test_every_transaction_uses_one_of_its_customers_terminals(data: HandbookDataset) -> None:
    tx = data.transactions
    for i in range(0, len(tx), 997):
        assert tx.terminal_id[i] in data.customers.available_terminals(int(tx.customer_id[i]))


def test_time_of_day_is_a_truncated_normal_around_noon(data: HandbookDataset) -> None:
    tod = data.transactions.tx_time_seconds % 86_400
    assert tod.min() > 0 and tod.max() < 86_400
    assert tod.mean() == pytest.approx(43_200, abs=600)
    # Std of N(43200, 20000) truncated to the day: 20000 * sqrt(1 - 2 a phi(a) / (2 Phi(a) - 1)), a = 2.16.
    a = 2.16
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    expected_std = 20_000 * math.sqrt(1 - 2 * a * phi / (2 * _normal_cdf(a) - 1))
    assert tod.std() == pytest.approx(expected_std, rel=0.03)


def test_genuine_amounts_follow_the_customer_profile(data: HandbookDataset) -> None:
    tx = data.transactions
    genuine = tx.tx_fraud_scenario != handbook.SCENARIO_COMPROMISED_CUSTOMER
    assert (tx.amount_minor >= 0).all()
    mean = data.customers.mean_amount[tx.customer_id[genuine]]
    # X ~ N(1, 1/2) in units of the mean; negatives (P = Phi(-2)) redrawn from U(0, 2) whose mean is 1:
    # E = E[X; X > 0] + Phi(-2) = Phi(2) + phi(2) / 2 + Phi(-2) = 1 + phi(2) / 2.
    expected = 1 + 0.5 * math.exp(-2) / math.sqrt(2 * math.pi)
    ratio = tx.amount_minor[genuine] / 100 / mean
    assert ratio.mean() == pytest.approx(expected, abs=0.01)
    assert np.percentile(ratio, 99.9) < 1 + 4 * 0.5


def test_every_amount_above_220_is_fraud(data: HandbookDataset) -> None:
    tx = data.transactions
    assert (tx.tx_fraud[tx.amount_minor > 22_000] == 1).all()
    scenario_1 = tx.tx_fraud_scenario == handbook.SCENARIO_LARGE_AMOUNT
    assert scenario_1.any()
    assert (tx.amount_minor[scenario_1] > 22_000).all()


def test_fraud_flag_and_scenario_agree(data: HandbookDataset) -> None:
    tx = data.transactions
    np.testing.assert_array_equal(tx.tx_fraud == 1, tx.tx_fraud_scenario > 0)


def test_scenario_2_frauds_are_exactly_the_compromised_terminal_windows(data: HandbookDataset) -> None:
    tx = data.transactions
    events = data.compromised_terminals
    assert len(events) == 2 * (tx.tx_time_days.max())
    in_window = np.zeros(len(tx), dtype=bool)
    for terminal, day in events:
        in_window |= (tx.terminal_id == terminal) & (tx.tx_time_days >= day) & (tx.tx_time_days < day + 28)
    scenario_2 = tx.tx_fraud_scenario == handbook.SCENARIO_COMPROMISED_TERMINAL
    assert scenario_2.sum() > 0
    assert in_window[scenario_2].all()
    # Every transaction in a window is fraud (scenario 3 may relabel some of them).
    assert (tx.tx_fraud[in_window] == 1).all()
    assert (tx.tx_fraud_scenario[in_window] >= 2).all()


def test_scenario_3_frauds_are_a_third_of_compromised_customers_windows_times_five(
    data: HandbookDataset,
) -> None:
    tx = data.transactions
    scenario_3 = tx.tx_fraud_scenario == handbook.SCENARIO_COMPROMISED_CUSTOMER
    in_window = np.zeros(len(tx), dtype=bool)
    for customer, day in data.compromised_customers:
        in_window |= (tx.customer_id == customer) & (tx.tx_time_days >= day) & (tx.tx_time_days < day + 14)
    assert scenario_3.sum() > 0
    assert in_window[scenario_3].all()
    assert (tx.amount_minor[scenario_3] % 5 == 0).all()
    share = scenario_3.sum() / in_window.sum()
    assert 0.2 < share < 0.5


def test_sorted_by_time_and_ids_are_positions(data: HandbookDataset) -> None:
    tx = data.transactions
    assert (np.diff(tx.tx_time_seconds) >= 0).all()
    np.testing.assert_array_equal(tx.transaction_id, np.arange(len(tx)))
    assert str(tx.tx_datetime[0]).startswith("2018-04-01T")


def test_same_seed_same_data_other_seed_other_data(data: HandbookDataset) -> None:
    again = handbook.generate(SMALL).transactions
    tx = data.transactions
    for name in ("tx_time_seconds", "customer_id", "terminal_id", "amount_minor", "tx_fraud_scenario"):
        np.testing.assert_array_equal(getattr(again, name), getattr(tx, name))
    other = handbook.generate(HandbookConfig(n_customers=500, n_terminals=1_000, n_days=30, seed=8))
    assert len(other.transactions) != len(tx) or not np.array_equal(
        other.transactions.amount_minor, tx.amount_minor
    )


def test_csv_round_trip_and_format(data: HandbookDataset, tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    handbook_csv.write_csv(data.transactions, path)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(handbook_csv.COLUMNS)
    assert re.fullmatch(r"0,2018-04-01 \d\d:\d\d:\d\d,\d+,\d+,\d+\.\d\d,\d+,0,[01],[0-3]", lines[1])
    back = handbook_csv.read_csv(path)
    assert back.start_date == SMALL.start_date
    columns = ("tx_time_seconds", "customer_id", "terminal_id", "amount_minor", "tx_fraud")
    for name in (*columns, "tx_fraud_scenario"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data.transactions, name))


def test_csv_reader_accepts_pandas_style_files(tmp_path: Path) -> None:
    path = tmp_path / "pandas.csv"
    path.write_text(
        ",TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,"
        "TX_FRAUD,TX_FRAUD_SCENARIO\n"
        "0,0,2018-04-02 00:00:31,596,3156,57.16,86431,1,0,0\n"
        "1,1,2018-04-01 00:02:10,4961,3412,285.79999999999995,130,0,1,3\n"
    )
    tx = handbook_csv.read_csv(path)
    assert tx.start_date == SMALL.start_date
    np.testing.assert_array_equal(tx.tx_time_seconds, [130, 86_431])  # re-sorted by time
    np.testing.assert_array_equal(tx.amount_minor, [28_580, 5_716])
    np.testing.assert_array_equal(tx.tx_fraud_scenario, [3, 0])


def test_csv_reader_rejects_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("TRANSACTION_ID,TX_AMOUNT\n0,1.00\n")
    with pytest.raises(ValueError, match="missing columns"):
        handbook_csv.read_csv(path)


def test_scaled_frauds_keep_the_book_fraud_share_at_small_scale() -> None:
    small = dict(n_customers=300, n_terminals=600, n_days=150, seed=4)
    book_rules = handbook.generate(HandbookConfig(**small)).transactions
    scaled = handbook.generate(HandbookConfig(**small, scale_frauds=True)).transactions
    # The book's fixed daily counts flood a small population with fraud; scaled counts keep about 0.84%.
    assert book_rules.tx_fraud.mean() > 0.05
    assert 0.004 < scaled.tx_fraud.mean() < 0.016
    np.testing.assert_array_equal(scaled.tx_time_seconds, book_rules.tx_time_seconds)


def test_scaling_is_a_no_op_at_the_book_scale() -> None:
    config = HandbookConfig(scale_frauds=True)
    assert config.compromised_terminals_per_day == 2 and config.compromised_customers_per_day == 3
