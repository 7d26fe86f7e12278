"""The services of proactive-care, in one place.

`proactive-care serve|migrate|run`, the CLI's subcommands, the tests and the deploy checks list the services from
here; nothing else names them. A service is a folder `services/<name>/` of the common shape (`app.py` declaring
`SERVICE = Service(...)`, `repository.py` with `MIGRATIONS`, `commands.py` with `register(subparsers)`, and
optionally `offline/prepare.py` with `prepare(settings)`, run by `make run` before the first start); adding one is
copying a folder and adding one line below (services/platform/README.md).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.platform.app import Service


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
TOOLS = ("simulator", "backtest")  # folders with CLI commands that are not services


class UnknownServiceError(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown service {name!r}: choose from {', '.join(NAMES)}")


def module(name: str, part: str) -> ModuleType:
    """`services.<name>.<part>` of a registered service (e.g. its `app` or `repository`)."""
    if name not in NAMES:
        raise UnknownServiceError(name)
    return importlib.import_module(f"services.{name}.{part}")


def service(name: str) -> Service:
    """The declaration of a registered service (its `app.SERVICE`)."""
    return module(name, "app").SERVICE


def preparation(name: str) -> ModuleType | None:
    """The service's first-start preparation (`offline/prepare.py`: `needed(settings)` and `prepare(settings)`,
    e.g. training fraud's first model), or None when it has none."""
    if name not in NAMES:
        raise UnknownServiceError(name)
    if importlib.util.find_spec(f"services.{name}.offline") is None or \
            importlib.util.find_spec(f"services.{name}.offline.prepare") is None:
        return None
    return importlib.import_module(f"services.{name}.offline.prepare")
