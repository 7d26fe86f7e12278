"""`proactive-care mortgage ...`: check eligibility from a JSON request, and evaluate proactive care on the
seeded simulator against its ground truth. The last stdout line of each command is JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from google.protobuf import json_format

from services.gen.proactivecare.v1 import mortgage_pb2
from services.platform.cli_types import share
from services.platform.clock import utc_today

EXAMPLE = {
    "jurisdiction": "UK",
    "applicants": [{"grossAnnualIncome": {"amountMinor": "5000000", "currency": "GBP"},
                    "netMonthlyIncome": {"amountMinor": "320000", "currency": "GBP"},
                    "monthlyDebtPayments": {"amountMinor": "20000", "currency": "GBP"},
                    "monthlyLivingCosts": {"amountMinor": "120000", "currency": "GBP"}}],
    "property": {"value": {"amountMinor": "30000000", "currency": "GBP"}, "units": 1,
                 "occupancy": "PRINCIPAL_RESIDENCE"},
    "loan": {"amount": {"amountMinor": "20000000", "currency": "GBP"}, "termMonths": 300, "rateBps": 450,
             "fixedRate": True, "fixedMonths": 24, "purpose": "PURCHASE"},
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mortgage", help="mortgage eligibility and proactive payment-difficulty care")
    msub = p.add_subparsers(dest="mortgage_command", required=True)

    check = msub.add_parser("check", help="CheckEligibility for a JSON request (proto3 JSON); prints the answer")
    check.add_argument("request", nargs="?", help="a JSON file, '-' for stdin; default: a worked UK example")
    check.add_argument("--target", help="call a running service at host:port instead of computing in-process")
    check.add_argument("--token", help="bearer token for --target (see `proactive-care token`)")
    check.set_defaults(func=_check)

    ev = msub.add_parser("evaluate", help="seeded simulation scored against missed-payment ground truth; "
                                          'last line {"care_recall_3d":..,"false_offer_rate":..}')
    ev.add_argument("--customers", type=int, default=5_000, help="simulated customers")
    ev.add_argument("--days", type=int, default=183, help="simulated days")
    ev.add_argument("--seed", type=int, default=0, help="simulator seed (0 is the tuning seed; judge on others)")
    ev.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 1, 6),
                    help="first simulated day (a policy version must be in force)")
    ev.add_argument("--kafka", action="store_true",
                    help="through the real pipeline: embedded Kafka, the service's StreamRunner, topics")
    ev.add_argument("--market", default="default", choices=["default", "UK", "US"],
                    help="the simulator's pay-rhythm mix (see `proactive-care simulate --help`)")
    ev.add_argument("--payday-spending", type=share, default=0.0, metavar="SHARE",
                    help="the simulator's spending that follows pay (see `proactive-care simulate --help`)")
    ev.set_defaults(func=_evaluate)


def _load_request(path: str | None) -> mortgage_pb2.CheckEligibilityRequest:
    if path is None:
        raw = json.dumps(EXAMPLE)
    elif path == "-":
        raw = sys.stdin.read()
    else:
        raw = Path(path).read_text(encoding="utf-8")
    return json_format.Parse(raw, mortgage_pb2.CheckEligibilityRequest())


def _check(args: argparse.Namespace) -> int:
    from services.platform.errors import ValidationError

    request = _load_request(args.request)
    try:
        if args.target:
            from services.gen.proactivecare.v1 import mortgage_pb2_grpc
            from services.platform.client import connect

            with connect(args.target, args.token or "") as channel:
                response = mortgage_pb2_grpc.MortgageServiceStub(channel).CheckEligibility(request, timeout=10)
        else:
            from services.mortgage import proto_mapping as pm
            from services.mortgage.eligibility import check_eligibility

            response = pm.eligibility_response(check_eligibility(pm.eligibility_request(request,
                                                                                        utc_today())))
    except ValidationError as exc:
        print(json.dumps({"error": "INVALID_ARGUMENT", "field": exc.field, "message": exc.message}))
        return 2
    print(json.dumps(json_format.MessageToDict(response)))
    return 0


# per pay rhythm in the last line
SEGMENT_KEYS = ("care_recall_3d", "care_recall_3d_after_warmup", "care_recall_3d_after_warmup_interval",
                "false_offer_rate", "false_offer_rate_interval", "customers_with_missed_payment",
                "customers_with_missed_payment_after_warmup", "mortgage_holders")


def _evaluate(args: argparse.Namespace) -> int:
    from services.mortgage.offline import evaluation, replay
    from services.mortgage.policy import JURISDICTIONS, policy_in_force

    started = time.monotonic()
    bank = replay.build(args.customers, args.days, args.seed, args.start, args.market, args.payday_spending)
    truth = replay.truth_of(bank)
    if args.kafka:
        offers, info = replay.through_kafka(bank)
    else:
        offers, info = replay.in_process(bank)
    history_days = max(policy_in_force(j, args.start).care.signals.spending_min_history_days for j in JURISDICTIONS)
    figures = evaluation.score(offers, truth, evaluation.warmup_end(args.start, history_days))
    detail = {"config": {"customers": args.customers, "days": args.days, "seed": args.seed,
                         "start": args.start.isoformat(), "market": args.market,
                         "payday_spending": args.payday_spending}, **info, **figures,
              "total_seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(detail, indent=2), file=sys.stderr)
    print(json.dumps({"care_recall_3d": figures["care_recall_3d"],
                      "care_recall_3d_after_warmup": figures["care_recall_3d_after_warmup"],
                      "false_offer_rate": figures["false_offer_rate"],
                      "path": info["path"], "customers": args.customers, "seed": args.seed,
                      "offers": figures["offers"], "customers_with_missed_payment":
                          figures["customers_with_missed_payment"], "market": args.market,
                      "payday_spending": args.payday_spending,
                      "by_pay_rhythm": {r: {k: f[k] for k in SEGMENT_KEYS}
                                        for r, f in figures["by_pay_rhythm"].items()}}))
    return 0
