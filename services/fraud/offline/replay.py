"""Replay a labelled dataset through the feature engine in time order, as the worker would see it.

Without a model, every label becomes known after the delay. With a model, each batch (one hour of
transactions, like a poll batch) is scored in one call; the transactions it would alert on get their label
after `feedback_days` (the customer answered "was this you?"), the rest after the delay.
"""

from __future__ import annotations

import math

import numpy as np

from services.fraud.events import Label
from services.fraud.features import DAY, FEATURE_NAMES, FeatureConfig, FeatureEngine
from services.fraud.model import FraudModel
from services.fraud.offline.dataset import HandbookData
from services.platform.progress import Progress

BATCH_SECONDS = 3600.0
PROGRESS_ROWS = 5_000  # rows between progress updates (cheap next to the feature engine)


class Replay:
    def __init__(self, data: HandbookData, config: FeatureConfig | None = None) -> None:
        self.data = data
        self.engine = FeatureEngine(config)
        self.features = np.full((len(data), len(FEATURE_NAMES)), np.nan)
        self.scores = np.full(len(data), np.nan)
        self.alerted = np.zeros(len(data), dtype=bool)
        self.position = 0
        self._events = list(data.events())

    def run_until(self, end_ts: float, model: FraudModel | None = None, alert_threshold: float = 1.0,
                  feedback_days: float | None = None) -> None:
        """Process every row with ts < end_ts."""
        stop = int(np.searchsorted(self.data.ts, end_ts, side="left"))
        with Progress("replay" if model is None else "replay, scored", total=stop - self.position,
                      unit="transactions") as progress:
            if model is None:
                self._plain(stop, progress)
                return
            while self.position < stop:
                batch_end = (math.floor(self.data.ts[self.position] / BATCH_SECONDS) + 1) * BATCH_SECONDS
                end = min(stop, int(np.searchsorted(self.data.ts, batch_end, side="left")))
                self._scored_batch(self.position, end, model, alert_threshold, feedback_days, batch_end)
                progress.update(end - self.position)
                self.position = end

    def _plain(self, stop: int, progress: Progress) -> None:
        delay = self.engine.config.delay_seconds
        engine, events, fraud, out = self.engine, self._events, self.data.fraud, self.features
        for start in range(self.position, stop, PROGRESS_ROWS):
            for i in range(start, min(start + PROGRESS_ROWS, stop)):
                tx = events[i]
                out[i] = engine.process(tx)
                engine.add_label(_label(tx_index=i, replay=self, fraud=bool(fraud[i]), known_at=tx.ts + delay))
            progress.update(min(start + PROGRESS_ROWS, stop) - start)
        self.position = stop

    def _scored_batch(self, start: int, end: int, model: FraudModel, threshold: float,
                      feedback_days: float | None, batch_end: float) -> None:
        engine = self.engine
        rows = self.features[start:end]
        for j, i in enumerate(range(start, end)):
            rows[j] = engine.process(self._events[i])
        scores = model.score(rows)
        self.scores[start:end] = scores
        alerted = scores >= threshold
        self.alerted[start:end] = alerted
        delay = engine.config.delay_seconds
        for j, i in enumerate(range(start, end)):
            ts = float(self.data.ts[i])
            if alerted[j] and feedback_days is not None:
                known_at = max(ts + feedback_days * DAY, batch_end)
            else:
                known_at = ts + delay
            engine.add_label(_label(i, self, bool(self.data.fraud[i]), known_at))


def _label(tx_index: int, replay: Replay, fraud: bool, known_at: float) -> Label:
    tx = replay._events[tx_index]
    return Label(tx_id=tx.tx_id, customer_id=tx.customer_id, terminal_id=tx.terminal_id, merchant_id=tx.merchant_id,
                 mcc=tx.mcc, tx_ts=tx.ts, fraud=fraud, known_at=known_at)
