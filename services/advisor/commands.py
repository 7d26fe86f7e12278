"""`proactive-care advisor ...`: client calls for trying the advisor queues from a terminal."""

from __future__ import annotations

import argparse
import json

from services.gen.proactivecare.v1 import advisor_pb2_grpc


def register(sub: argparse._SubParsersAction) -> None:
    advisor = sub.add_parser("advisor", help="advisor queues: claim, complete, list")
    commands = advisor.add_subparsers(dest="advisor_command", required=True)

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--target", required=True, help="host:port of the advisor service")
        parser.add_argument("--token", required=True, help="an advisor token (`proactive-care token --role advisor"
                                                           " --queue ...`)")
        return parser

    claim = client("claim", "claim the next task of a queue (ClaimNext)")
    claim.add_argument("--queue", required=True, help="the queue to claim from, e.g. financial-support")
    claim.add_argument("--lease", type=int, default=0, help="lease seconds (0 = the policy default)")
    claim.set_defaults(func=_claim)

    complete = client("complete", "complete a claimed task (Complete)")
    complete.add_argument("--task", required=True, help="the task id you hold")
    complete.add_argument("--outcome", required=True, help="one of the policy outcomes, e.g. CONTACTED")
    complete.add_argument("--note", default="", help="your note (free text)")
    complete.set_defaults(func=_complete)

    listing = client("list", "list a queue's open tasks (ListQueue)")
    listing.add_argument("--queue", required=True, help="the queue to list")
    listing.add_argument("--page-size", type=int, default=20, help="tasks per page")
    listing.set_defaults(func=_list)


def _stub(args: argparse.Namespace) -> advisor_pb2_grpc.AdvisorQueueServiceStub:
    from services.platform.client import connect

    return advisor_pb2_grpc.AdvisorQueueServiceStub(connect(args.target, args.token))


def _print(message: object) -> int:
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message)))  # type: ignore[arg-type]
    return 0


def _claim(args: argparse.Namespace) -> int:
    from services.gen.proactivecare.v1 import advisor_pb2

    return _print(_stub(args).ClaimNext(advisor_pb2.ClaimNextRequest(queue=args.queue, lease_seconds=args.lease),
                                        timeout=10))


def _complete(args: argparse.Namespace) -> int:
    from services.gen.proactivecare.v1 import advisor_pb2

    return _print(_stub(args).Complete(advisor_pb2.CompleteRequest(task_id=args.task, outcome=args.outcome,
                                                                   note=args.note), timeout=10))


def _list(args: argparse.Namespace) -> int:
    from services.gen.proactivecare.v1 import advisor_pb2, common_pb2

    return _print(_stub(args).ListQueue(advisor_pb2.ListQueueRequest(
        queue=args.queue, page=common_pb2.PageRequest(page_size=args.page_size)), timeout=10))
