"""`proactive-care fraud train | evaluate | retrain | rollback`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from services.fraud.model import ModelArtifactError, model_dir_from_env
from services.fraud.offline.evaluation import HANDBOOK_TRAIN_START
from services.fraud.offline.jobs import SPENDING_CHOICES
from services.fraud.offline.training import CANDIDATES
from services.platform.errors import ValidationError


def register(sub: argparse._SubParsersAction) -> None:
    fraud = sub.add_parser("fraud", help="fraud model: train on simulator output, evaluate with the Handbook protocol")
    cmds = fraud.add_subparsers(dest="fraud_command", required=True)

    train = cmds.add_parser("train", help="compare LR / RF / HGB (time-ordered validation), save the best")
    _data_args(train)
    train.add_argument("--out", type=Path, default=None,
                       help="model directory (default: $FRAUD_MODEL_DIR or var/models/fraud)")
    train.add_argument("--train-start", type=dt.date.fromisoformat, default=None,
                       help="first day of the 7-day training week (default: the latest week with all labels)")
    # The live service learns from answers at once: by default the model is trained on features as they are
    # live (answered alerts' labels known at once, the rest after the delay).
    train.set_defaults(func=_train, feedback_delay_days=0.0)

    ev = cmds.add_parser("evaluate", help="the Handbook protocol on a Handbook-column CSV; last line is JSON")
    _data_args(ev)
    ev.add_argument("--train-start", type=dt.date.fromisoformat, default=HANDBOOK_TRAIN_START,
                    help="first day of the 7-day training week (the test week starts 14 days later)")
    ev.add_argument("--model", type=Path, default=None,
                    help="score the test week with this saved model (a directory or .skops file) instead of "
                         "selecting and training one on the data: the model trained elsewhere, at this bank")
    ev.set_defaults(func=_evaluate)

    cal = cmds.add_parser("calibrate", help="calibrate a model's scores to a bank's fraud share, learnt from its "
                                            "labelled history: a new version of the model (the same estimator)")
    cal.add_argument("--history", type=Path, required=True,
                     help="the bank's labelled history, in the backtest's format (JSON lines or CSV with labels)")
    cal.add_argument("--model-dir", type=Path, default=None,
                     help="the model to calibrate, and where the calibrated version is written (default: "
                          "$FRAUD_MODEL_DIR or var/models/fraud)")
    cal.add_argument("--out", type=Path, default=None, help="write the calibrated version here instead")
    cal.set_defaults(func=_calibrate)

    re = cmds.add_parser("retrain", help="a challenger from the labelled history the stream brought (the fraud "
                                         "store); promoted only if it beats the champion on the last labelled days "
                                         "by the policy's margin, else left in shadow; writes a report")
    re.add_argument("--model-dir", type=Path, default=None,
                    help="model directory (default: $FRAUD_MODEL_DIR or var/models/fraud)")
    re.add_argument("--algorithm", choices=sorted(CANDIDATES), default=None,
                    help="the challenger's family (default: $FRAUD_RETRAIN_ALGORITHM or hist_gradient_boosting)")
    re.add_argument("--shadow-only", action="store_true",
                    help="never promote: the challenger scores in shadow whatever the comparison says")
    re.set_defaults(func=_retrain)

    rb = cmds.add_parser("rollback", help="the previous champion serves again (live workers take it up between "
                                          "batches); the challenger in shadow is dropped")
    rb.add_argument("--model-dir", type=Path, default=None,
                    help="model directory (default: $FRAUD_MODEL_DIR or var/models/fraud)")
    rb.set_defaults(func=_rollback)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", help="a CSV with the Handbook's columns (default: generate the book dataset)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed when no --csv is given")
    p.add_argument("--spending", choices=SPENDING_CHOICES, default="handbook",
                   help="simulator genuine spending when no --csv is given (see `simulate --spending`); mixed: "
                        "the book's bank and a varied one (seed + 1000) side by side, as the default model")
    p.add_argument("--currency", default="EUR", help="ISO 4217 currency of the amounts")
    p.add_argument("--feedback-delay-days", type=float, default=None,
                   help="labels of alerted transactions are known after N days (the customer answered)")
    p.add_argument("--algorithms", default=",".join(CANDIDATES),
                   help=f"comma-separated candidates among {', '.join(CANDIDATES)}")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _algorithms(args: argparse.Namespace) -> list[str]:
    names = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in names if a not in CANDIDATES]
    if unknown or not names:
        raise ValidationError("algorithms", f"unknown {unknown}; choose among {sorted(CANDIDATES)}")
    return names


def _train(args: argparse.Namespace) -> int:
    from services.fraud.offline.jobs import load_data, train_job

    try:
        data = load_data(args.csv, args.seed, args.currency, args.spending)
        out = args.out or model_dir_from_env()
        path, model = train_job(data, out, args.train_start, args.feedback_delay_days, _algorithms(args), _log)
    except ValidationError as exc:
        _log(f"error: {exc}")
        return 2
    print(json.dumps({"model": str(path), "version": model.version, "algorithm": model.card.algorithm,
                      "features": len(model.card.features)}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from services.fraud.offline.jobs import evaluate_job, evaluate_model_job, load_data

    try:
        data = load_data(args.csv, args.seed, args.currency, args.spending)
        if args.model is not None:
            metrics = evaluate_model_job(data, args.model, args.train_start, _log)
        else:
            metrics = evaluate_job(data, args.train_start, args.feedback_delay_days, _algorithms(args), _log)
    except (ValidationError, ModelArtifactError) as exc:
        _log(f"error: {exc}")
        return 2
    print(json.dumps(metrics))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from services.backtest import history as bank_history
    from services.fraud.model import calibrated, load_model, save_model
    from services.fraud.model_slots import promote

    model_dir = args.model_dir or model_dir_from_env()
    try:
        history = bank_history.read(args.history)
        cards = [t.id for t in history.transactions if t.card_token]
        frauds = sum(history.fraud_labels.get(i, False) for i in cards)
        if not cards:
            raise ValidationError("history", "holds no card payments")
        model = calibrated(load_model(model_dir), frauds / len(cards), frauds, len(cards), args.history.name)
        if args.out is not None:
            path = save_model(model, args.out)
        else:  # in place: it becomes the champion, and the model it replaces the one `fraud rollback` restores
            path = save_model(model, model_dir, latest=False)
            promote(model_dir, model.version, report=f"calibrated to {args.history.name}")
    except (ValidationError, ModelArtifactError, ValueError) as exc:
        _log(f"error: {exc}")
        return 2
    print(json.dumps({"model": str(path), "version": model.version, **model.card.calibration}))
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from services.fraud.app import NAME, SERVICE, policy_from_env
    from services.fraud.lifecycle_settings import LifecycleSettings
    from services.fraud.offline.retraining import retrain
    from services.platform.settings import Settings
    from services.platform.storage import Store

    lifecycle = LifecycleSettings.from_env()
    store = Store.for_service(Settings.from_env(), NAME)
    try:
        store.migrate(SERVICE.migrations)
        report = retrain(store, args.model_dir or model_dir_from_env(), policy_from_env(),
                         args.algorithm or lifecycle.retrain_algorithm, promote_allowed=not args.shadow_only,
                         history_days=lifecycle.history_days, log=_log)
    except (ValidationError, ModelArtifactError) as exc:
        _log(f"error: {exc}")
        return 2
    finally:
        store.close()
    print(json.dumps({"decision": report["decision"], "champion": report["champion"],
                      "challenger": report["challenger"], "report": report.get("report")}))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from services.fraud.model_slots import rollback

    try:
        restored, replaced = rollback(args.model_dir or model_dir_from_env())
    except ModelArtifactError as exc:
        _log(f"error: {exc}")
        return 2
    print(json.dumps({"champion": restored, "previous": replaced}))
    return 0
