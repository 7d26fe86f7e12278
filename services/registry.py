"""The services of proactive-care, in one place.

`proactive-care serve|migrate|run`, the CLI's subcommands, the tests and the deploy checks list the services from
here; nothing else names them. A service is a folder `services/<name>/` of the common shape (`app.py` with
`build(settings)` and optionally `prepare(settings)`, `repository.py` with `MIGRATIONS`, `commands.py` with
`register(subparsers)`); adding one is copying a folder and adding one line below (services/platform/README.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Registered:
    name: str
    grpc_port: int     # under `make run` (one machine); Kubernetes and compose use their own
    metrics_port: int
    kind: str = "grpc"  # "grpc": a service of the common shape; "web": a web app in front of them (no gRPC port)
    web_port: int = 0  # a web app's HTTP port under `make run`


SERVICES = (
    Registered("fraud", 50051, 9101),
    Registered("notify", 50052, 9102),
    Registered("advice", 50053, 9103),
    Registered("advisor", 50054, 9104),
    Registered("mortgage", 50055, 9105),
)
NAMES = tuple(s.name for s in SERVICES)  # the gRPC services (every one of the common shape)
# Web apps: browser front ends calling the services above with the signed-in user's token (started by `make run`
# after the services, each as `proactive-care <name>`; its folder has a README, app.py and commands.py).
WEB_APPS = (
    Registered("console", 0, 0, kind="web", web_port=8080),
)
TOOLS = ("simulator",)  # folders with CLI commands that are not services


class UnknownServiceError(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown service {name!r}: choose from {', '.join(NAMES)}")


def module(name: str, part: str) -> ModuleType:
    """`services.<name>.<part>` of a registered service (e.g. its `app` or `repository`)."""
    if name not in NAMES:
        raise UnknownServiceError(name)
    return importlib.import_module(f"services.{name}.{part}")
