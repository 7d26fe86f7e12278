"""The `fraud train` and `fraud evaluate` jobs: load data, run the pure pieces, write the artifact."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.fraud.features import FeatureConfig
from services.fraud.model import FraudModel, save_model
from services.fraud.offline.dataset import DAY_SECONDS, HandbookData, combine, from_simulator, read_handbook_csv
from services.fraud.offline.evaluation import (
    DELAY_DAYS,
    HISTORY_DAYS,
    TRAIN_DAYS,
    VALIDATION_OFFSET_DAYS,
    day_number,
    evaluate,
)
from services.fraud.offline.replay import Replay
from services.fraud.offline.training import compare, fit, usable_features, wrap
from services.fraud.policy import load_policy
from services.platform.errors import ValidationError

Log = Callable[[str], None]


SPENDING_CHOICES = ("handbook", "varied", "mixed")
MIXED_VARIED_SEED_OFFSET = 1000  # the varied bank of a mix has its own seed: its customers are not the book's


def load_data(csv: str | None, seed: int | None, currency: str = "EUR", spending: str = "handbook",
              scale: dict[str, Any] | None = None) -> HandbookData:
    """A Handbook CSV, or (no CSV) the simulator's book-sized Handbook dataset for `seed` and `spending`.

    "mixed": two banks side by side in one dataset (ids prefixed `book:` / `varied:`): the book's spending for
    `seed` and the varied spending for `seed + 1000`, so a model trained on it has seen both steady spenders
    whose every amount over 220 is fraud and heavy-tailed spenders whose big purchases are genuine. `scale`:
    other HandbookConfig fields (a smaller bank for tests)."""
    if csv:
        return read_handbook_csv(csv, currency)
    from services.simulator.handbook import HandbookConfig, generate

    base = seed or 0
    extra = scale or {}
    if spending == "mixed":
        return combine({
            "book": from_simulator(generate(HandbookConfig(seed=base, **extra)).transactions, currency),
            "varied": from_simulator(generate(HandbookConfig(seed=base + MIXED_VARIED_SEED_OFFSET,
                                                             spending="varied", **extra)).transactions, currency),
        })
    return from_simulator(generate(HandbookConfig(seed=base, spending=spending, **extra)).transactions, currency)


def default_train_start(data: HandbookData, delay_days: int = DELAY_DAYS) -> dt.date:
    """The latest full week whose labels are all known by the end of the data."""
    last_day = int(data.day.max())
    start = last_day - delay_days - TRAIN_DAYS + 1
    return dt.date(1970, 1, 1) + dt.timedelta(days=start)


def train_job(data: HandbookData, out_dir: Path, train_start: dt.date | None, feedback_days: float | None,
              algorithms: list[str] | None, log: Log) -> tuple[Path, FraudModel]:
    """Select among the candidates (time-ordered), fit the best on the training week, save it."""
    config = FeatureConfig(label_delay_days=DELAY_DAYS)
    start = train_start or default_train_start(data)
    start_day = day_number(start)
    fit_start = start_day - VALIDATION_OFFSET_DAYS
    if int(data.day.min()) > fit_start - 7:
        raise ValidationError("train_start", f"needs at least {VALIDATION_OFFSET_DAYS + 7} days of data before "
                              f"{start} (validation week and some history); the data starts too late")
    day = data.day
    data = data.select((day >= fit_start - HISTORY_DAYS) & (day < start_day + TRAIN_DAYS))
    day, y = data.day, data.fraud
    train = (day >= start_day) & (day < start_day + TRAIN_DAYS)
    fit_rows = (day >= fit_start) & (day < fit_start + TRAIN_DAYS)
    t0 = time.perf_counter()
    replay = Replay(data, config)
    replay.run_until(float((start_day + TRAIN_DAYS) * DAY_SECONDS))
    log(f"features: {len(data)} transactions in {time.perf_counter() - t0:.1f} s")
    names = usable_features(replay.features[train])
    candidates = compare(replay.features, y, fit_rows, train, names, algorithms)
    for c in candidates:
        log(f"candidate {json.dumps(c.summary())}")
    best = candidates[0]
    features = replay.features
    if feedback_days is not None:
        policy = load_policy()
        live = Replay(data, config)
        window_model = wrap(best.estimator, best.algorithm, names, config, (start, start), {})
        live.run_until(float((start_day + TRAIN_DAYS) * DAY_SECONDS), window_model,
                       policy.challenge_threshold, feedback_days)
        features = live.features
    metrics: dict[str, Any] = {
        "selection": [c.summary() for c in candidates],
        "validation": {"fit_window": _window(fit_start), "scored_window": _window(start_day)},
        "training_rows": int(train.sum()), "training_frauds": int(y[train].sum()),
        "feedback_days": feedback_days,
    }
    end = start + dt.timedelta(days=TRAIN_DAYS)
    model = wrap(fit(best.algorithm, features[train], y[train], names), best.algorithm, names, config,
                 (start, end), metrics)
    path = save_model(model, out_dir)
    log(f"saved {best.algorithm} as {path}")
    return path, model


def evaluate_job(data: HandbookData, train_start: dt.date, feedback_days: float | None,
                 algorithms: list[str] | None, log: Log) -> dict[str, Any]:
    """AUC / AP / CP@100 of the final scores, then the per-card outcomes at the policy's thresholds."""
    policy = load_policy()
    result = evaluate(data, train_start=train_start, feedback_days=feedback_days,
                      alert_threshold=policy.challenge_threshold, block_threshold=policy.block_threshold,
                      log=log, algorithms=algorithms)
    log(f"timings {json.dumps(result.timings)}")
    return {**result.final, **result.cards}


def evaluate_model_job(data: HandbookData, model_dir: Path, train_start: dt.date, log: Log) -> dict[str, Any]:
    """A saved model on this data's test week, at the policy's thresholds (see `evaluation.evaluate_model`)."""
    from services.fraud.model import load_model
    from services.fraud.offline.evaluation import evaluate_model

    policy = load_policy()
    return evaluate_model(data, load_model(model_dir), train_start=train_start,
                          alert_threshold=policy.challenge_threshold, block_threshold=policy.block_threshold, log=log)


def _window(start_day: int) -> dict[str, str]:
    start = dt.date(1970, 1, 1) + dt.timedelta(days=start_day)
    return {"start": start.isoformat(), "end": (start + dt.timedelta(days=TRAIN_DAYS)).isoformat()}
