"""`python -m services.devtools.prepare <service>`: run a service's first-start preparation (its
`offline/prepare.py`, e.g. training fraud's first model) in a process of its own, so `make run` starts the other
services meanwhile and starts this one when it is done."""

from __future__ import annotations

import sys

from services import registry
from services.platform import security
from services.platform.settings import Settings


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m services.devtools.prepare <service>", file=sys.stderr)
        return 2
    try:
        module = registry.preparation(argv[0])
    except registry.UnknownServiceError as exc:
        print(exc, file=sys.stderr)
        return 2
    if module is not None:
        try:
            module.prepare(security.resolve(Settings.from_env()))
        except KeyboardInterrupt:
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
