"""Varied genuine spending: heavy-tailed amounts with each customer's own spread, shared online shops, big
purchases; no amount > 220 rule; the book's own spending is left exactly as it was."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from services.simulator import handbook
from services.simulator.handbook import HandbookConfig

SMALL = HandbookConfig(n_customers=400, n_terminals=800, n_days=60, seed=3)


@pytest.fixture(scope="module")
def book() -> handbook.HandbookDataset:
    return handbook.generate(SMALL)


@pytest.fixture(scope="module")
def varied() -> handbook.HandbookDataset:
    return handbook.generate(dataclasses.replace(SMALL, spending="varied"))


def test_large_genuine_payments_are_genuine_and_tails_are_heavy(varied: handbook.HandbookDataset) -> None:
    tx = varied.transactions
    assert not (tx.tx_fraud_scenario == handbook.SCENARIO_LARGE_AMOUNT).any()
    genuine = tx.tx_fraud == 0
    assert (tx.amount_minor[genuine] > handbook.SCENARIO_1_THRESHOLD_MINOR).mean() > 0.02
    # per customer: the 95th percentile over the median, far beyond the book's normal amounts (at most ~2.6x)
    ratios = []
    for c in range(50):
        a = tx.amount_minor[genuine & (tx.customer_id == c)]
        if len(a) >= 40:
            ratios.append(np.percentile(a, 95) / np.median(a))
    assert np.median(ratios) > 2.5


def test_online_shops_are_shared_across_the_plane(varied: handbook.HandbookDataset,
                                                  book: handbook.HandbookDataset) -> None:
    def customers_per_terminal(data: handbook.HandbookDataset) -> int:
        tx = data.transactions
        pairs = np.unique(np.column_stack((tx.terminal_id, tx.customer_id)), axis=0)
        return int(np.bincount(pairs[:, 0]).max())

    # a local terminal serves the customers within a few km; a popular online shop serves a large share of all
    assert customers_per_terminal(book) < 40
    assert customers_per_terminal(varied) > 100


def test_the_books_spending_is_unchanged(book: handbook.HandbookDataset) -> None:
    again = handbook.generate(dataclasses.replace(SMALL, feed_locations=False))
    assert np.array_equal(book.transactions.amount_minor, again.transactions.amount_minor)
    assert (book.transactions.tx_fraud_scenario == handbook.SCENARIO_LARGE_AMOUNT).any()
    with pytest.raises(ValueError, match="spending"):
        HandbookConfig(spending="lavish")
