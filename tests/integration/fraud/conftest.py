"""A small fraud model trained once per session on simulator data (the real training path, smaller)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from services.fraud.dataset import from_simulator
from services.fraud.jobs import train_job
from services.simulator.handbook import HandbookConfig, generate


@pytest.fixture(scope="session")
def fraud_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("fraud-model")
    data = from_simulator(generate(HandbookConfig(n_customers=300, n_terminals=600, n_days=45, seed=1)).transactions)
    with threadpool_limits(1):
        train_job(data, out, None, 0.0, ["hist_gradient_boosting"], lambda _m: None)
    yield out


@pytest.fixture(scope="session")
def varied_fraud_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Trained on varied genuine spending (log-normal amounts, online shops, big purchases) at the book's fraud
    share: the model a bank whose customers spend unlike the book's deploys (`fraud train --spending varied`)."""
    out = tmp_path_factory.mktemp("fraud-model-varied")
    config = HandbookConfig(n_customers=1000, n_terminals=2000, n_days=45, seed=1, scale_frauds=True, spending="varied")
    with threadpool_limits(1):
        train_job(from_simulator(generate(config).transactions), out, None, 0.0, ["hist_gradient_boosting"],
                  lambda _m: None)
    yield out
