"""`proactive-care console`: serve the advisors' console and the customer's inbox page."""

from __future__ import annotations

import argparse
import os
import sys

from services import registry
from services.platform.settings import Settings

DEFAULT_PORT = next(w.web_port for w in registry.WEB_APPS if w.name == "console")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    console = sub.add_parser("console", help="serve the advisors' console and the customer's inbox page (web)")
    console.add_argument("--host", default=os.environ.get("CONSOLE_HOST", "127.0.0.1"),
                         help="address to listen on (CONSOLE_HOST; not loopback: TLS_CERT_FILE is required)")
    console.add_argument("--port", type=int, default=int(os.environ.get("CONSOLE_PORT", DEFAULT_PORT)),
                         help=f"HTTP port (CONSOLE_PORT, default {DEFAULT_PORT})")
    console.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from services.console.app import serve
    from services.platform import security

    try:
        serve(Settings.from_env(), host=args.host, port=args.port)
    except security.StartupRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0
