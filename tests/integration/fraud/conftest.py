"""The default fraud model, trained once per session as `make run` trains it (the real training path on the
simulator's two banks side by side, the book's spending and varied spending), on smaller banks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from services.fraud.offline.jobs import load_data, train_job

# 1,000 customers a bank over 45 days with the book's daily compromises (3 cards, 2 terminals a day), so a fifth
# of the customers: a training week with as many compromised cards as the book's
SMALL_BANK = {"n_customers": 1000, "n_terminals": 2000, "n_days": 45}


@pytest.fixture(scope="session")
def fraud_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("fraud-model")
    data = load_data(None, 1, spending="mixed", scale=SMALL_BANK)
    with threadpool_limits(1):
        train_job(data, out, None, 0.0, ["hist_gradient_boosting"], lambda _m: None)
    yield out
