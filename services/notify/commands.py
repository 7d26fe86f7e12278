"""`proactive-care watch --customer ID`: subscribe and print notifications as they arrive."""

from __future__ import annotations

import argparse
import os

import grpc

from services.gen.proactivecare.v1 import events_pb2, notify_pb2, notify_pb2_grpc
from services.platform import auth, enums, security
from services.platform.client import connect
from services.platform.settings import Settings

DEFAULT_TARGET = "127.0.0.1:50052"


def register(sub: argparse._SubParsersAction) -> None:
    watch = sub.add_parser("watch", help="subscribe to a customer's notifications and print them as they arrive")
    watch.add_argument("--customer", required=True, help="the customer whose notifications to watch")
    watch.add_argument("--after", type=int, default=0, help="replay everything after this sequence")
    watch.add_argument("--target", default=os.environ.get("NOTIFY_TARGET", DEFAULT_TARGET),
                       help="host:port of the notify service ($NOTIFY_TARGET)")
    watch.set_defaults(func=_watch)


def format_notification(item: notify_pb2.DeliveredNotification) -> str:
    n = item.notification
    kind = enums.short_name(events_pb2.NotificationKind, n.kind)
    lines = [f"#{item.sequence} [{kind}] {n.title}", f"    {n.body}"]
    lines += [f"    why: {r.text} ({r.code})" for r in n.reasons]
    if n.actions:
        lines.append("    actions: " + " | ".join(a.label for a in n.actions))
    return "\n".join(lines)


def _watch(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        token = security.issue_dev_token(settings, args.customer, auth.Role.CUSTOMER, services=("notify",))
    except security.StartupRefused as exc:
        print(exc)
        return 2
    print(f"watching notifications of {args.customer} on {args.target} (Ctrl-C to stop)", flush=True)
    with connect(args.target, token) as channel:
        stub = notify_pb2_grpc.NotificationServiceStub(channel)
        request = notify_pb2.SubscribeRequest(customer_id=args.customer, after_sequence=args.after)
        try:
            for item in stub.Subscribe(request, wait_for_ready=True):
                print(format_notification(item.delivered), flush=True)
        except KeyboardInterrupt:
            return 0
        except grpc.RpcError as err:
            print(f"stream ended: {err.code().name}: {err.details()}")
            return 1
    return 0
