"""`proactive-care backtest`: replay a bank's own history through the real fraud, advice and mortgage handlers
and the notification gateway's routing, and report whom care would have reached, how early and how often wrongly.
The report is written to `--out` (report.json, report.html with plots, bad_rows.txt); the last stdout line is the
report's JSON. `--compare OTHER_DIR` puts another run's figures beside this one's (e.g. two policy versions).
`--kafka` replays through the real pipeline instead: the history produced to a broker (the embedded one, started
when none answers) and consumed by the services' own stream runners."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="replay a bank's history through every detector; report what care would "
                                        "have reached whom, and when", description=__doc__)
    p.add_argument("--transactions", type=Path, required=True,
                   help="JSON lines of proactivecare.v1.Transaction (or a mixed file with `type`), or CSV")
    p.add_argument("--profiles", type=Path, help="JSON lines of proactivecare.v1.CustomerProfile")
    p.add_argument("--out", type=Path, default=Path("var/backtest"), help="directory for report.json")
    p.add_argument("--model-dir", type=Path, help="the fraud model to use (default: FRAUD_MODEL_DIR)")
    p.add_argument("--compare", type=Path, metavar="OTHER_DIR",
                   help="another backtest's --out directory: its figures side by side in report.html")
    p.add_argument("--kafka", action="store_true",
                   help="through the real pipeline: produce the history to Kafka (the embedded broker unless "
                        "KAFKA_BOOTSTRAP_SERVERS names one) and run the services' stream runners on it")
    p.set_defaults(func=_backtest)


def _backtest(args: argparse.Namespace) -> int:
    from services.backtest import history as hist
    from services.backtest import html, report, truth
    from services.backtest.replay import replay

    other = None
    if args.compare is not None:
        try:
            other = json.loads((args.compare / "report.json").read_text())
        except (OSError, ValueError) as exc:
            print(f"--compare: no readable report.json in {args.compare} ({exc})", file=sys.stderr)
            return 2
    for path in (args.transactions, args.profiles):
        if path is not None and not path.exists():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    history = hist.read(args.transactions, "transaction" if args.profiles else None)
    if args.profiles is not None:
        history = history.merge(hist.read(args.profiles, "profile"))
    for bad in history.bad_rows[:20]:
        print(f"skipped {bad}", file=sys.stderr)
    if len(history.bad_rows) > 20:
        print(f"... and {len(history.bad_rows) - 20} more bad rows (bad_rows.txt)", file=sys.stderr)
    transactions = history.in_time_order()
    derived = truth.derive(transactions, history.profiles, history.fraud_labels)
    with tempfile.TemporaryDirectory() as tmp:
        if args.kafka:
            from services.backtest.through_kafka import replay_through_kafka

            replayed = replay_through_kafka(transactions, history.profiles, Path(tmp), args.model_dir)
        else:
            replayed = replay(transactions, history.profiles, Path(tmp), args.model_dir)
        series = report.Series()
        try:
            figures = report.build(history, transactions, derived, replayed, series)
        finally:
            replayed.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / "bad_rows.txt").write_text("".join(f"{b}\n" for b in history.bad_rows))
    (args.out / "report.html").write_text(html.render(figures, series, other, str(args.compare or "")))
    print(f"report: {args.out / 'report.json'}", file=sys.stderr)
    print(json.dumps(figures))
    return 0
