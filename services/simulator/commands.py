"""`proactive-care simulate`: generate the synthetic bank, export it, produce it to Kafka. Last stdout line
is JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from services.platform.cli_types import share
from services.simulator import catalog, handbook, handbook_csv, truth
from services.simulator.handbook import HandbookConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="the synthetic bank (Fraud Detection Handbook generator + accounts); last stdout line is JSON",
        description=__doc__,
    )
    d = HandbookConfig()
    p.add_argument("--customers", type=int, default=d.n_customers, help="simulated customers")
    p.add_argument("--terminals", type=int, default=d.n_terminals, help="card terminals (shops)")
    p.add_argument("--days", type=int, default=d.n_days, help="simulated days")
    p.add_argument("--start", type=dt.date.fromisoformat, default=d.start_date, help="first day, YYYY-MM-DD")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed: the same seed gives the same bank")
    p.add_argument("--radius", type=float, default=d.radius, help="km within which a customer uses terminals")
    p.add_argument("--scale-frauds", action="store_true",
                   help="scale the daily compromised terminals/customers with the size (keeps the book's ~0.84%%)")
    p.add_argument("--spending", choices=handbook.SPENDING_MODES, default=d.spending,
                   help="genuine spending: the book's, or varied (log-normal amounts, online shops, big purchases;"
                        " no amount > 220 rule)")
    p.add_argument("--no-locations", dest="feed_locations", action="store_false",
                   help="card payments on the stream carry no coordinates")
    p.add_argument("--csv", metavar="FILE", help="write the Handbook-format CSV of the card transactions")
    p.add_argument("--truth", metavar="FILE", help="write the ground truth as JSON lines")
    p.add_argument("--export-history", metavar="FILE", type=Path,
                   help="write the bank in the backtest's input format (JSON lines: profiles, transactions, fraud "
                        "labels) for `proactive-care backtest --transactions FILE`")
    p.add_argument("--produce", action="store_true", help="produce profiles and transactions to Kafka")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="transactions per second (default: as fast as possible)")
    pace.add_argument("--fast", action="store_true", help="as fast as possible (the default)")
    p.add_argument("--limit", type=int, help="produce at most this many transactions")
    p.add_argument("--live", action="store_true", help="shift the simulated clock so the first day is today (UTC)")
    layer = p.add_mutually_exclusive_group()
    layer.add_argument("--bank", dest="bank", action="store_true", default=True,
                       help="build the bank accounts on top of the Handbook data (default)")
    layer.add_argument("--handbook-only", dest="bank", action="store_false",
                       help="only the Handbook transactions (fast; no accounts, no Kafka)")
    p.add_argument("--stats", action="store_true", help="include the statistics in the JSON line")
    p.add_argument("--market", choices=sorted(catalog.PAY_MIXES), default="default",
                   help="pay-rhythm mix: default = everyone paid monthly on their payday (the bank as before); "
                        "UK = mostly monthly with four-weekly, last-working-day, weekly and gig pay; US = mostly "
                        "weekly and bi-weekly; both with weekend shifts and usage-priced bills that vary")
    p.add_argument("--payday-spending", type=share, default=0.0, metavar="SHARE",
                   help="spending that follows pay: the share of genuine card payments moved to the 3 days after "
                        "the pay before them; 0 = the Handbook's spending, as before")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.produce and not args.bank:
        raise SystemExit("--produce needs the bank layer (drop --handbook-only)")
    start = dt.datetime.now(dt.UTC).date() if args.live else args.start
    config = HandbookConfig(
        n_customers=args.customers,
        n_terminals=args.terminals,
        n_days=args.days,
        start_date=start,
        radius=args.radius,
        seed=args.seed,
        scale_frauds=args.scale_frauds,
        spending=args.spending,
        feed_locations=args.feed_locations,
    )
    out: dict[str, Any] = {"config": {**config.__dict__, "start_date": start.isoformat()}}
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    data = handbook.generate(config)
    timings["handbook_s"] = round(time.perf_counter() - t0, 3)
    if args.stats:
        out["handbook"] = handbook.summary(data.transactions, config.n_customers, config.n_days)

    bank = None
    if args.bank:
        from services.simulator.bank import bank_stats, build_bank
        from services.simulator.bank_config import BankConfig

        t0 = time.perf_counter()
        bank = build_bank(data=data, config=BankConfig.for_market(args.market, payday_spending=args.payday_spending))
        timings["bank_s"] = round(time.perf_counter() - t0, 3)
        if args.stats:
            out["bank"] = bank_stats(bank)

    if args.csv:
        t0 = time.perf_counter()
        out["csv"] = {"path": args.csv, "rows": handbook_csv.write_csv(data.transactions, args.csv)}
        timings["csv_s"] = round(time.perf_counter() - t0, 3)
    if args.truth:
        t0 = time.perf_counter()
        out["truth"] = {"path": args.truth, "records": truth.write_truth(args.truth, data, bank)}
        timings["truth_s"] = round(time.perf_counter() - t0, 3)
    if args.export_history:
        if bank is None:
            raise SystemExit("--export-history needs the bank layer (drop --handbook-only)")
        from services.simulator.history_export import export_history

        t0 = time.perf_counter()
        out["history"] = export_history(bank, args.export_history)
        timings["history_s"] = round(time.perf_counter() - t0, 3)
    if args.produce and bank is not None:
        from services.platform.kafka_io import ensure_topics
        from services.platform.settings import Settings
        from services.simulator.produce import produce_bank

        settings = Settings.from_env()
        ensure_topics(settings)  # idempotent; the broker does not auto-create topics
        results = produce_bank(bank, settings, rate=None if args.fast else args.rate, limit=args.limit)
        out["produced"] = [
            {"topic": r.topic, "records": r.records, "seconds": round(r.seconds, 3),
             "records_per_second": round(r.records_per_second, 1), "failed": r.failed}
            for r in results
        ]
    out["timings"] = timings
    print(json.dumps(out), flush=True)
    return 0
