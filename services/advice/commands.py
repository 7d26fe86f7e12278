"""`proactive-care advice ...`: the anticipation evaluation and two client calls for trying the service."""

from __future__ import annotations

import argparse
import json

from services.platform.cli_types import share


def register(sub: argparse._SubParsersAction) -> None:
    advice = sub.add_parser("advice", help="advice nudges: evaluation and client calls")
    commands = advice.add_subparsers(dest="advice_command", required=True)

    evaluate = commands.add_parser("evaluate", help="seeded simulation scored against overdraft ground truth; "
                                                    "the last stdout line is JSON")
    evaluate.add_argument("--seed", type=int, default=0, help="simulator seed (0 is the tuning seed; judge on others)")
    evaluate.add_argument("--customers", type=int, default=500, help="simulated customers")
    evaluate.add_argument("--days", type=int, default=183, help="simulated days")
    evaluate.add_argument("--market", default="default", choices=["default", "UK", "US"],
                          help="the simulator's pay-rhythm mix (see `proactive-care simulate --help`)")
    evaluate.add_argument("--payday-spending", type=share, default=0.0, metavar="SHARE",
                          help="the simulator's spending that follows pay (see `proactive-care simulate --help`)")
    evaluate.add_argument("--kafka", action="store_true",
                          help="through the real pipeline: simulator -> Kafka -> the advice StreamRunner "
                               "(starts an embedded broker when none answers)")
    evaluate.set_defaults(func=_evaluate)

    nudges = commands.add_parser("nudges", help="list a customer's nudges (AdviceService.ListNudges)")
    nudges.add_argument("--target", required=True, help="host:port of the advice service")
    nudges.add_argument("--token", required=True, help="a bearer token (`proactive-care token`)")
    nudges.add_argument("--customer", required=True, help="the customer whose nudges to list")
    nudges.add_argument("--page-size", type=int, default=20, help="nudges per page")
    nudges.set_defaults(func=_nudges)

    respond = commands.add_parser("respond", help="answer a nudge (AdviceService.RespondToNudge)")
    respond.add_argument("--target", required=True, help="host:port of the advice service")
    respond.add_argument("--token", required=True,
                         help="the customer's bearer token (`proactive-care token --role customer`)")
    respond.add_argument("--nudge", required=True, help="the nudge id")
    respond.add_argument("--response", required=True, choices=["HELPFUL", "NOT_HELPFUL", "ACTED", "DISMISSED"],
                         help="the customer's answer")
    respond.set_defaults(func=_respond)


def _evaluate(args: argparse.Namespace) -> int:
    from services.advice.offline.evaluation import EvaluationConfig, run

    result = run(EvaluationConfig(seed=args.seed, customers=args.customers, days=args.days, market=args.market,
                                  payday_spending=args.payday_spending),
                 via_kafka=args.kafka)
    print(json.dumps(result, sort_keys=True))
    return 0


def _nudges(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from services.gen.proactivecare.v1 import advice_pb2, advice_pb2_grpc, common_pb2
    from services.platform.client import connect

    stub = advice_pb2_grpc.AdviceServiceStub(connect(args.target, args.token))
    reply = stub.ListNudges(advice_pb2.ListNudgesRequest(
        customer_id=args.customer, page=common_pb2.PageRequest(page_size=args.page_size)), timeout=10)
    print(json.dumps(MessageToDict(reply)))
    return 0


def _respond(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from services.gen.proactivecare.v1 import advice_pb2, advice_pb2_grpc
    from services.platform import enums
    from services.platform.client import connect

    stub = advice_pb2_grpc.AdviceServiceStub(connect(args.target, args.token))
    reply = stub.RespondToNudge(advice_pb2.RespondToNudgeRequest(
        nudge_id=args.nudge, response=enums.value_of(advice_pb2.NudgeResponse, args.response)), timeout=10)
    print(json.dumps(MessageToDict(reply)))
    return 0
