"""`fraud retrain`: a challenger from the labelled history the stream brought, compared with the champion on the
last N labelled days, promoted only when it wins by the policy's margin.

The windows are in event time, ending at the latest payment scored (`as_of`): a day's labels are complete once the
label delay (the chargeback delay the features use, 7 days) has passed after it, so the labelled days end at
`as_of - delay` (a day boundary). The last `evaluation_days` of them are held out: both models score their feature
rows there; the challenger is fitted on the `training_days` before them. A payment is fraud when a fraud label (an
answer or a chargeback) had arrived by `as_of`, genuine otherwise (its chargeback window has passed). The feature
rows are those the live engine computed (`history.py`): the trainer's code (`training.py`) fits them as `fraud
train` fits a replay's.

Whatever the outcome, a report is written (`reports/<challenger>.json`: both models' metrics, the decision, the
features, the windows, the data volumes and label delays); a challenger not promoted stays in shadow beside the
champion until the next retrain replaces it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.fraud.features import FeatureConfig
from services.fraud.history import ANSWER, CHARGEBACK, History, HistoryRepository
from services.fraud.model import FraudModel, ModelArtifactError
from services.fraud.model_slots import (
    CHALLENGER,
    CHAMPION,
    install_challenger,
    load_role,
    promote,
    save_challenger,
    version_of,
    write_report,
)
from services.fraud.offline.training import fit, usable_features, wrap
from services.fraud.policy import FraudPolicy
from services.fraud.promotion import TOO_FEW_LABELS, decide, model_metrics
from services.platform.clock import utc_now
from services.platform.storage import Store

DAY = 86400.0
Log = Callable[[str], None]


@dataclass(frozen=True)
class Windows:
    as_of: float
    train_start: float
    evaluation_start: float
    end: float  # exclusive: the end of the last day with complete labels

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": _iso(self.as_of), "training": {"start": _iso(self.train_start),
                                                        "end": _iso(self.evaluation_start)},
                "evaluation": {"start": _iso(self.evaluation_start), "end": _iso(self.end)}}


def windows(as_of: float, delay_days: float, training_days: int, evaluation_days: int) -> Windows:
    end = math.floor((as_of - delay_days * DAY) / DAY) * DAY
    evaluation_start = end - evaluation_days * DAY
    return Windows(as_of, evaluation_start - training_days * DAY, evaluation_start, end)


def labels_as_of(history: History, as_of: float) -> np.ndarray:
    """1 where a fraud label had arrived by `as_of`, else 0."""
    return ((history.fraud == 1.0) & (history.known_at <= as_of)).astype(np.int8)


def retrain(store: Store, directory: Path, policy: FraudPolicy, algorithm: str, *, promote_allowed: bool = True,
            history_days: float = 0.0, log: Log = lambda _m: None) -> dict[str, Any]:
    """Build a challenger, compare, promote or shadow it, write the report; returns the report."""
    champion = load_role(directory, CHAMPION)
    if champion is None:
        raise ModelArtifactError(f"no champion in {directory}: run `proactive-care fraud train` first")
    rule = policy.promotion
    delay = float(champion.card.feature_config.get("label_delay_days", FeatureConfig().label_delay_days))
    in_shadow = version_of(directory, CHALLENGER)
    with store.read() as tx:
        latest = HistoryRepository(tx).latest_ts()
        if latest is None:
            return _no_challenger(champion, rule.model_dump(), None, {}, "no scored payments in the history yet")
        w = windows(latest, delay, rule.training_days, rule.evaluation_days)
        history = HistoryRepository(tx).between(w.train_start, w.end)
        shadow = ({"version": in_shadow, **HistoryRepository(tx).shadow_agreement(in_shadow,
                                                                                  policy.challenge_threshold)}
                  if in_shadow else None)
    y = labels_as_of(history, w.as_of)
    train, held_out = history.ts < w.evaluation_start, history.ts >= w.evaluation_start
    volumes = _volumes(history, y, train, held_out)
    log(f"history: {volumes}")
    _forget(store, w.as_of, history_days, log)
    if volumes["training_frauds"] < rule.min_frauds or volumes["training_rows"] - volumes["training_frauds"] < 1:
        return _no_challenger(champion, rule.model_dump(), w, volumes,
                              f"{volumes['training_frauds']} known frauds in the training days; needs "
                              f"{rule.min_frauds}")
    names = usable_features(history.features[train])
    config = FeatureConfig(label_delay_days=delay)
    window = (_date(w.train_start), _date(w.evaluation_start))
    estimator = fit(algorithm, history.features[train], y[train], names)
    challenger = wrap(estimator, algorithm, names, config, window, {
        "retrained_from": "labelled stream history", "training_rows": volumes["training_rows"],
        "training_frauds": volumes["training_frauds"]})
    threshold = policy.challenge_threshold
    scored = history.features[held_out]
    both = {"champion": model_metrics(y[held_out], champion.score(scored), threshold),
            "challenger": model_metrics(y[held_out], challenger.score(scored), threshold)}
    verdict = decide(rule, volumes["evaluation_rows"], volumes["evaluation_frauds"],
                     both["champion"][rule.metric], both["challenger"][rule.metric])
    challenger = save_challenger(challenger, directory)
    report = {
        "created_at": utc_now().isoformat(timespec="seconds"),
        "decision": {**verdict.to_dict(), "promoted": verdict.promote and promote_allowed},
        "rule": rule.model_dump(),
        "champion": {**_describe(champion), "metrics": both["champion"]},
        "challenger": {**_describe(challenger), "metrics": both["challenger"]},
        "features": names,
        "windows": w.to_dict(),
        "data_volumes": volumes,
        "label_delays_days": _delays(history, y),
        "previous_challenger_in_shadow": shadow,  # how the challenger it replaces agreed with the champion live
    }
    path = write_report(directory, challenger.version, report)
    if verdict.promote and promote_allowed:
        promote(directory, challenger.version, str(path))
        log(f"promoted {challenger.version}: {verdict.detail}")
    else:
        install_challenger(directory, challenger.version, str(path))
        log(f"{challenger.version} stays in shadow: {verdict.detail}")
    return {**report, "report": str(path)}


def _forget(store: Store, as_of: float, history_days: float, log: Log) -> None:
    """The history beyond `history_days` (event time) goes: nothing older is ever trained or evaluated on."""
    if history_days > 0:
        with store.transaction() as tx:
            removed = HistoryRepository(tx).prune(as_of - history_days * DAY)
        log(f"history: {removed} payments older than {history_days:g} days forgotten")


def _no_challenger(champion: FraudModel, rule: dict[str, Any], w: Windows | None, volumes: dict[str, int],
                   detail: str) -> dict[str, Any]:
    return {"created_at": utc_now().isoformat(timespec="seconds"),
            "decision": {"promote": False, "promoted": False, "reason": TOO_FEW_LABELS, "detail": detail},
            "rule": rule, "champion": _describe(champion), "challenger": None,
            "windows": w.to_dict() if w else None, "data_volumes": volumes}


def _volumes(history: History, y: np.ndarray, train: np.ndarray, held_out: np.ndarray) -> dict[str, int]:
    return {"training_rows": int(train.sum()), "training_frauds": int(y[train].sum()),
            "evaluation_rows": int(held_out.sum()), "evaluation_frauds": int(y[held_out].sum()),
            "labels_from_answers": int((history.source == ANSWER).sum()),
            "labels_from_chargebacks": int((history.source == CHARGEBACK).sum())}


def _delays(history: History, y: np.ndarray) -> dict[str, float | None]:
    """Median days from a fraudulent payment to its label, by where the label came from."""
    out: dict[str, float | None] = {}
    for source in (ANSWER, CHARGEBACK):
        rows = (y == 1) & (history.source == source)
        out[source] = (round(float(np.median(history.known_at[rows] - history.ts[rows])) / DAY, 3)
                       if rows.any() else None)
    return out


def _describe(model: FraudModel) -> dict[str, Any]:
    return {"version": model.version, "algorithm": model.card.algorithm, "features": len(model.card.features),
            "training_window": model.card.training_window}


def _date(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
